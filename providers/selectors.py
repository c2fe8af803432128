"""Reads for the Model Providers pages: the catalog joined with a workspace's configuration."""

from __future__ import annotations

from dataclasses import dataclass

from credentials.selectors import ProviderCredentialSummary, provider_credential_summaries
from workspaces.models import Workspace

from .registry import catalog
from .schema import MODEL_TYPES, ProviderSpec


@dataclass(frozen=True)
class ProviderRow:
    provider: ProviderSpec
    credentials: ProviderCredentialSummary

    @property
    def configured(self) -> bool:
        return self.credentials.configured

    @property
    def status(self) -> str:
        """The badge's machine word: not-configured, failing, no-default or active."""
        if not self.credentials.configured:
            return "not-configured"
        if self.credentials.failing:
            return "failing"
        if not self.credentials.default_name:
            return "no-default"
        return "active"

    @property
    def status_label(self) -> str:
        return {
            "not-configured": "Not configured",
            "failing": f"{self.credentials.failing} failing",
            "no-default": "No default",
            "active": "Active",
        }[self.status]

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
    summaries = provider_credential_summaries(workspace=workspace)
    rows = []
    for provider in catalog():
        if model_type and model_type not in provider.model_types:
            continue
        if query and not _matches(provider, query):
            continue
        summary = summaries.get(provider.key, ProviderCredentialSummary())
        rows.append(ProviderRow(provider=provider, credentials=summary))
    return sorted(rows, key=lambda row: not row.configured)


def _matches(provider: ProviderSpec, query: str) -> bool:
    haystack = [provider.label.lower(), provider.key, provider.description.lower()]
    haystack += [m.name.lower() for m in provider.models]
    return any(query in text for text in haystack)


def model_type_choices() -> list[tuple[str, str]]:
    return list(MODEL_TYPES.items())
