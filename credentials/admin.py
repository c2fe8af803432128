"""Credentials in the Django admin: names, masks and status only; secrets never appear.

Credentials are created and edited in the app, where they are validated first; the admin can
inspect, filter and delete them. A custom model's features can be edited here too, through
`custom_model_set_features` as the staff user. A delete, one or "Delete selected", goes through
`credential_delete` as the staff user (`Operator.staff`), so it does what the page's does.
"""

from django import forms
from django.contrib import admin, messages

from workspaces.actors import Operator
from workspaces.exceptions import ApplicationError

from .forms import features_field
from .models import Credential, CustomModel, PendingValidation
from .services import credential_delete, custom_model_set_features


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "workspace",
        "provider",
        "model_name",
        "is_default",
        "status",
        "last_checked_at",
    ]
    list_filter = ["provider", "status", "is_default"]
    search_fields = ["name", "workspace__name", "workspace__slug", "model_name"]
    list_select_related = ["workspace"]
    fields = [
        "workspace",
        "provider",
        "model_name",
        "model_type",
        "name",
        "masks",
        "config",
        "is_default",
        "status",
        "last_error_code",
        "last_error_message",
        "last_checked_at",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj) -> None:
        self._delete(request, [obj])

    def delete_queryset(self, request, queryset) -> None:
        self._delete(request, queryset.select_related("workspace").defer("secret_data"))

    def _delete(self, request, credentials) -> None:
        operator = Operator.staff(request.user)
        for credential in credentials:
            try:
                credential_delete(credential=credential, acting_user=operator)
            except ApplicationError as exc:  # deleted meanwhile by someone else
                self.message_user(request, f"{credential}: {exc.message}", messages.WARNING)


@admin.register(PendingValidation)
class PendingValidationAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "workspace",
        "provider",
        "kind",
        "name",
        "status",
        "error_code",
        "created_at",
    ]
    list_filter = ["status", "kind", "provider"]
    search_fields = ["name", "workspace__slug"]
    fields = [
        "workspace",
        "provider",
        "model_name",
        "model_type",
        "kind",
        "credential",
        "name",
        "config",
        "status",
        "error_code",
        "error_message",
        "error_hint",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "expires_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CustomModelAdminForm(forms.ModelForm):
    features = features_field()

    class Meta:
        model = CustomModel
        fields = ["features"]


@admin.register(CustomModel)
class CustomModelAdmin(admin.ModelAdmin):
    """Custom models: looked at, and their features edited (the service writes and audits)."""

    form = CustomModelAdminForm
    list_display = ["name", "workspace", "provider", "type", "features", "created_at"]
    list_filter = ["provider", "type"]
    search_fields = ["name", "workspace__name", "workspace__slug"]
    list_select_related = ["workspace"]
    fields = ["workspace", "provider", "name", "type", "features", "created_by", "created_at"]
    readonly_fields = ["workspace", "provider", "name", "type", "created_by", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # removing a model is the app's (it keeps the credentials for a re-add)

    def save_model(self, request, obj, form, change) -> None:
        custom_model_set_features(
            custom_model=obj,
            features=form.cleaned_data["features"],
            acting_user=Operator.staff(request.user),
        )
