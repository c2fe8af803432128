from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Model providers"

    def ready(self) -> None:
        # Registers the Celery task, which the job base publishes by name from web processes
        # too (Celery's own autodiscovery runs only in workers).
        from . import tasks  # noqa: F401
