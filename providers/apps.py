from django.apps import AppConfig
from django.core import checks


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Model providers"

    def ready(self) -> None:
        checks.register(check_catalog, "providers")
        # Registers the Celery task, which the job base publishes by name from web processes
        # too (Celery's own autodiscovery runs only in workers).
        from . import tasks  # noqa: F401


def check_catalog(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check` (and every server start) fails on a malformed catalog file."""
    from .registry import load_catalog
    from .schema import CatalogError

    try:
        load_catalog()
    except CatalogError as exc:
        return [
            checks.Error(str(exc), hint="Fix the catalog file named above.", id="providers.E001")
        ]
    return []
