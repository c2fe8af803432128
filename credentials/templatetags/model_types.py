"""Catalog words in templates: `{{ model.type|type_label }}` ("Text embedding", never
`text-embedding`) and `{{ credential|key_masks }}` (what a page shows of a credential's secrets:
the mask alone, or named by field when there are several)."""

from __future__ import annotations

from django import template

from upstream.schema import MODEL_TYPES

register = template.Library()


@register.filter
def type_label(model_type: str | None) -> str:
    return MODEL_TYPES.get(model_type or "", model_type or "")


@register.filter
def key_masks(credential) -> list[tuple[str, str]]:
    """(label, mask) pairs: one secret shows its mask alone (label ""), several are named."""
    masks = dict(credential.masks or {})
    if len(masks) == 1:
        return [("", next(iter(masks.values())))]
    return [(name.replace("_", " ").capitalize(), mask) for name, mask in masks.items()]
