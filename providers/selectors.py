"""Reads for the Model Providers pages: the catalog joined with a workspace's configuration."""

from __future__ import annotations

from dataclasses import dataclass

from workspaces.models import Workspace

from .registry import catalog
from .schema import MODEL_TYPES, ProviderSpec


@dataclass(frozen=True)
class ProviderRow:
    provider: ProviderSpec
    configured: bool
    status: str  # machine word, e.g. "not-configured"
    status_label: str  # what the badge says

    @property
    def key(self) -> str:
        return self.provider.key


def provider_overview(
    *, workspace: Workspace, model_type: str = "", query: str = ""
) -> list[ProviderRow]:
    """Every catalog provider as the workspace sees it, configured ones first.

    Filters: `model_type` keeps providers supporting that type, `query` matches the label, key
    or a model name (case-insensitive).
    """
    query = query.strip().lower()
    rows = []
    for provider in catalog():
        if model_type and model_type not in provider.model_types:
            continue
        if query and not _matches(provider, query):
            continue
        # Credentials arrive with the credentials app; until then nothing is configured.
        rows.append(
            ProviderRow(
                provider=provider,
                configured=False,
                status="not-configured",
                status_label="Not configured",
            )
        )
    return sorted(rows, key=lambda row: not row.configured)


def _matches(provider: ProviderSpec, query: str) -> bool:
    haystack = [provider.label.lower(), provider.key, provider.description.lower()]
    haystack += [m.name.lower() for m in provider.models]
    return any(query in text for text in haystack)


def model_type_choices() -> list[tuple[str, str]]:
    return list(MODEL_TYPES.items())
