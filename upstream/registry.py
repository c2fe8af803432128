"""The provider catalog: every `upstream/catalog/<key>.yaml` file, parsed once and cached.

Adding a provider means adding a catalog file (and, from the credentials issue on, an adapter);
nothing else needs to change.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from django.conf import settings
from django.http import Http404

from .schema import CatalogError, ProviderSpec, parse_provider


def load_catalog(directory: Path | None = None) -> tuple[ProviderSpec, ...]:
    """Parse every catalog file of a directory; raise CatalogError on the first bad entry."""
    directory = Path(directory or settings.PROVIDER_CATALOG_DIR)
    providers: list[ProviderSpec] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            source = str(path.relative_to(settings.BASE_DIR))
        except ValueError:
            source = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CatalogError(source, "", f"is not valid YAML ({exc})") from exc
        provider = parse_provider(data, source=source)
        if provider.key != path.stem:
            raise CatalogError(
                source, "key", f"{provider.key!r} must match the file name {path.stem!r}"
            )
        if provider.key in seen:
            raise CatalogError(
                source, "key", f"{provider.key!r} is also used by {seen[provider.key]}"
            )
        seen[provider.key] = source
        providers.append(provider)
    if not providers:
        raise CatalogError(str(directory), "", "holds no provider files")
    return tuple(sorted(providers, key=lambda p: (p.position, p.label.lower())))


@cache
def catalog() -> tuple[ProviderSpec, ...]:
    return load_catalog()


@cache
def _by_key() -> dict[str, ProviderSpec]:
    return {provider.key: provider for provider in catalog()}


def get_provider(key: str) -> ProviderSpec | None:
    return _by_key().get(key)


def get_provider_or_404(key: str) -> ProviderSpec:
    provider = get_provider(key)
    if provider is None:
        raise Http404("No such provider.")
    return provider
