"""Django admin for the site operator: users, workspaces and memberships.

Every write here goes through the services as `Operator.staff(request.user)`: memberships are
added, changed and ended (one by one, in bulk, or inline on a workspace) as on the Members
page, so each is audited in the workspace's log with the staff user's name and the person's
API keys are revoked on every way out."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from . import services
from .actors import Operator
from .models import AuditEntry, Invitation, Membership, Plan, User, Workspace


def _end_memberships(request, memberships) -> None:
    for membership in memberships:
        services.membership_remove_by_operator(
            membership=membership, acting_user=Operator.staff(request.user)
        )


def _save_membership(request, membership: Membership) -> None:
    services.membership_save_by_operator(
        membership=membership, acting_user=Operator.staff(request.user)
    )


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "plan", "member_count", "created_at"]
    search_fields = ["name", "slug", "memberships__user__email"]
    list_filter = ["plan", "created_at"]
    list_select_related = ["plan"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        memberships = formset.save(commit=False)
        _end_memberships(request, formset.deleted_objects)
        for membership in memberships:
            _save_membership(request, membership)
        formset.save_m2m()

    def save_model(self, request, obj, form, change) -> None:
        services.workspace_save_by_operator(
            workspace=obj, acting_user=Operator.staff(request.user), created=not change
        )

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj: Workspace) -> int:
        return obj._member_count


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "load_balancing", "workspace_count", "position"]
    list_editable = ["load_balancing", "position"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_workspace_count=Count("workspaces"))

    @admin.display(description="Workspaces", ordering="_workspace_count")
    def workspace_count(self, obj: Plan) -> int:
        return obj._workspace_count


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__email", "workspace__name", "workspace__slug"]
    autocomplete_fields = ["user", "workspace"]
    list_select_related = ["user", "workspace"]

    def save_model(self, request, obj, form, change) -> None:
        _save_membership(request, obj)

    def delete_model(self, request, obj) -> None:
        _end_memberships(request, [obj])

    def delete_queryset(self, request, queryset) -> None:
        _end_memberships(request, queryset.select_related("user", "workspace"))


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Pending invitations, for reading and withdrawing: they are made and resent from the
    members page, which emails the link (the admin never shows or creates one)."""

    list_display = ["email", "workspace", "role", "invited_by", "sent_at", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["email", "workspace__name", "workspace__slug"]
    list_select_related = ["workspace", "invited_by"]
    fields = ["workspace", "email", "role", "invited_by", "created_at", "sent_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class EmailUserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ["email"]


class EmailUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    ordering = ["email"]
    list_display = ["email", "full_name", "email_confirmed_at", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_superuser", "is_active", "memberships__role"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name", "email_confirmed_at"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {"classes": ["wide"], "fields": ["email", "usable_password", "password1", "password2"]},
        ),
    ]
    inlines = []

    def delete_model(self, request, obj) -> None:
        _end_memberships(request, obj.memberships.select_related("workspace"))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for user in queryset:
            _end_memberships(request, user.memberships.select_related("workspace"))
        super().delete_queryset(request, queryset)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workspace", "actor_label", "action", "object_repr", "outcome"]
    list_filter = ["outcome", "action", "workspace"]
    search_fields = ["actor_email", "operator", "action", "object_repr", "workspace__slug"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "workspace",
        "actor",
        "actor_email",
        "operator",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "outcome",
        "details",
        "created_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
