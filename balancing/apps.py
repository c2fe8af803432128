from django.apps import AppConfig


class BalancingConfig(AppConfig):
    name = "balancing"
    verbose_name = "Load balancing"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from . import runtime

        def reset_on_change(*, setting: str, **kwargs) -> None:
            if setting in runtime.ROUTING_SETTINGS:
                runtime.reset()

        setting_changed.connect(reset_on_change, weak=False, dispatch_uid="balancing-runtime")
