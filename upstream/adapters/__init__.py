"""Provider adapters: one module per API family, each with its wire format and error mapping.

`get_adapter(provider)` returns the adapter named by the catalog entry's `adapter` key.
"""

from __future__ import annotations

from importlib import import_module

from ..schema import ProviderSpec
from .base import DiscoveredModel, ProviderAdapter

__all__ = ["DiscoveredModel", "ProviderAdapter", "get_adapter"]


def get_adapter(provider: ProviderSpec) -> ProviderAdapter:
    module = import_module(f"{__name__}.{provider.adapter}")
    return module.Adapter(provider)
