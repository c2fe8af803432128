from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "API gateway"

    def ready(self) -> None:
        # A person's keys end with their membership; workspaces, below us, only announces it.
        from workspaces.signals import membership_ending, membership_ending_preview

        from .selectors import api_keys_of_member
        from .services import api_keys_revoke_for_member

        membership_ending.connect(api_keys_revoke_for_member, dispatch_uid="gateway-revoke-keys")
        membership_ending_preview.connect(api_keys_of_member, dispatch_uid="gateway-list-keys")
