from django.apps import AppConfig
from django.core import checks


class UpstreamConfig(AppConfig):
    name = "upstream"
    verbose_name = "Upstream providers"

    def ready(self) -> None:
        checks.register(check_catalog, "upstream")


def check_catalog(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check` (and every server start) fails on a malformed catalog file."""
    from .registry import load_catalog
    from .schema import CatalogError

    try:
        load_catalog()
    except CatalogError as exc:
        return [
            checks.Error(str(exc), hint="Fix the catalog file named above.", id="upstream.E001")
        ]
    return []
