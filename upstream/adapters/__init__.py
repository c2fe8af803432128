"""Provider adapters: one module per API family, each with its wire format and error mapping.

Adapters do no I/O: each operation is a generator of `upstream.http.Request`s (see `base.py`),
run against a transport by `upstream/calling.py`. `adapter_for(provider)` returns the adapter
named by the catalog entry's `adapter` key; callers that want results rather than requests
use `upstream.calling.get_adapter(provider)`.
"""

from __future__ import annotations

from importlib import import_module

from ..schema import ProviderSpec
from .base import DiscoveredModel, Operation, ProviderAdapter

__all__ = ["DiscoveredModel", "Operation", "ProviderAdapter", "adapter_for"]


def adapter_for(provider: ProviderSpec) -> ProviderAdapter:
    module = import_module(f"{__name__}.{provider.adapter}")
    return module.Adapter(provider)
