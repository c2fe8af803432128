from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .access import public_view

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        public_view(
            auth_views.LoginView.as_view(
                template_name="registration/login.html",
                redirect_authenticated_user=True,
            )
        ),
        name="login",
    ),
    path("logout/", public_view(auth_views.LogoutView.as_view()), name="logout"),
    # The fixed path first: a token never looks like "accept".
    path("invitation/accept/", views.invitation_accept, name="invitation-accept"),
    path("invitation/<str:token>/", views.invitation_open, name="invitation-open"),
    path("workspaces/new/", views.workspace_create, name="workspace-create"),
    path("workspaces/switch/", views.workspace_switch, name="workspace-switch"),
    path("settings/workspace/", views.workspace_update, name="workspace-update"),
    path("settings/workspace/leave/", views.workspace_leave, name="workspace-leave"),
    path("settings/workspace/transfer/", views.workspace_transfer, name="workspace-transfer"),
    path("settings/audit-log/", views.audit_log, name="audit-log"),
    path("settings/members/", views.member_list, name="member-list"),
    path("settings/members/new/", views.member_create, name="member-create"),
    path("settings/members/<int:pk>/edit/", views.member_update, name="member-update"),
    path("settings/members/<int:pk>/delete/", views.member_delete, name="member-delete"),
    path(
        "settings/members/invitations/<int:pk>/resend/",
        views.invitation_resend,
        name="invitation-resend",
    ),
    path(
        "settings/members/invitations/<int:pk>/delete/",
        views.invitation_delete,
        name="invitation-delete",
    ),
]
