from django.apps import AppConfig
from django.core.signals import setting_changed

from credentials.signals import credential_deleting, credential_saved, credential_working


class BalancingConfig(AppConfig):
    name = "balancing"
    verbose_name = "Load balancing"

    def ready(self) -> None:
        from . import runtime, services

        # Pools follow their credentials; credentials, below us, only announce what happened.
        credential_saved.connect(services.on_credential_saved, dispatch_uid="balancing-join")
        credential_working.connect(services.on_credential_working, dispatch_uid="balancing-back")
        credential_deleting.connect(services.on_credential_deleting, dispatch_uid="balancing-stop")

        def reset_on_change(*, setting: str, **kwargs) -> None:
            if setting in runtime.ROUTING_SETTINGS:
                runtime.reset()

        setting_changed.connect(reset_on_change, weak=False, dispatch_uid="balancing-runtime")
