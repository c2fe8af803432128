"""Credentials in the Django admin: names, masks and status only; secrets never appear.

Credentials are created and edited in the app, where they are validated first; the admin can
inspect, filter and delete them.
"""

from django.contrib import admin

from .models import Credential, PendingValidation


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
