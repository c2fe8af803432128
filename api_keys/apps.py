from django.apps import AppConfig

from workspaces.signals import (
    environment_ending,
    environment_ending_preview,
    membership_ending,
    membership_ending_preview,
)


class ApiKeysConfig(AppConfig):
    name = "api_keys"
    verbose_name = "API keys"

    def ready(self) -> None:
        # A person's keys end with their membership; workspaces, below us, only announces it.
        from .selectors import api_keys_of_environment, api_keys_of_member
        from .services import api_keys_revoke_for_environment, api_keys_revoke_for_member

        membership_ending.connect(api_keys_revoke_for_member, dispatch_uid="api-keys-revoke")
        membership_ending_preview.connect(api_keys_of_member, dispatch_uid="api-keys-list")
        # An environment's keys end with it.
        environment_ending.connect(api_keys_revoke_for_environment, dispatch_uid="api-keys-env")
        environment_ending_preview.connect(api_keys_of_environment, dispatch_uid="api-keys-env")
