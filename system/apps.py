from django.apps import AppConfig


class SystemConfig(AppConfig):
    name = "system"
    verbose_name = "System providers and quotas"

    def ready(self) -> None:
        # Registers the Celery tasks, which the job base publishes by name from web processes
        # too (Celery's own autodiscovery runs only in workers).
        from . import tasks  # noqa: F401
