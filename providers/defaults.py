"""Workspace default models (Settings → Default models): one model per model type, used when a
page or a call names none (the playground starts with the default LLM).

Writes (`default_model_set`, `default_models_save`, `default_model_clear`) check the role, lock
the row, refuse unknown and unusable models, and write the audit row. The read
(`default_models_for`) joins each saved default with the model's status now, and proposes the
first active model for a type that has none — a proposal only: nothing is stored until saved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import transaction

from upstream.schema import MODEL_TYPES
from workspaces.exceptions import ApplicationError
from workspaces.models import User, Workspace
from workspaces.services import audit_record, require_manager

from .model_options import (
    ModelOption,
    first_active_option,
    model_id,
    model_option_find,
    model_option_for_id,
    model_options,
)
from .models import DefaultModel


@dataclass(frozen=True)
class DefaultChoice:
    """One model type's default as the settings page shows it."""

    model_type: str
    saved: DefaultModel | None
    option: ModelOption | None  # the saved model as listed now; None if it no longer exists
    proposal: ModelOption | None  # nothing saved: the first active model of the type

    @property
    def type_label(self) -> str:
        return MODEL_TYPES[self.model_type]

    @property
    def saved_id(self) -> str:
        if self.saved is None:
            return ""
        return model_id(
            provider=self.saved.provider,
            name=self.saved.model_name,
            model_type=self.model_type,
            custom=self.saved.custom,
        )

    @property
    def usable(self) -> bool:
        """The saved default can be called now."""
        return self.option is not None and self.option.usable

    @property
    def initial(self) -> str:
        """What the picker starts on: the saved default, else the proposal."""
        if self.saved is not None:
            return self.saved_id
        return self.proposal.id if self.proposal else ""


def default_models_for(
    *, workspace: Workspace, options: Sequence[ModelOption] | None = None
) -> dict[str, DefaultChoice]:
    """Every model type (in MODEL_TYPES order) with its saved default, the model's status now,
    and a proposal when nothing is saved. `options` (all types) saves re-reading them."""
    if options is None:
        options = model_options(workspace=workspace)
    saved = {d.model_type: d for d in DefaultModel.objects.filter(workspace=workspace)}
    choices = {}
    for model_type in MODEL_TYPES:
        of_type = [o for o in options if o.type == model_type]
        default = saved.get(model_type)
        option = None
        if default is not None:
            option = model_option_find(
                of_type,
                provider=default.provider,
                name=default.model_name,
                model_type=model_type,
                custom=default.custom,
            )
        choices[model_type] = DefaultChoice(
            model_type=model_type,
            saved=default,
            option=option,
            proposal=None if default is not None else first_active_option(of_type),
        )
    return choices


def _check_type(model_type: str) -> None:
    if model_type not in MODEL_TYPES:
        raise ApplicationError(f"Unknown model type {model_type!r}.", field="model_type")


def _usable_option(
    workspace: Workspace,
    model_type: str,
    value: str,
    options: Sequence[ModelOption] | None = None,
) -> ModelOption:
    if options is None:
        options = model_options(workspace=workspace, model_type=model_type)
    option = model_option_for_id(options, value, model_type=model_type)
    if option is None:
        raise ApplicationError(
            f"{value} is not one of this workspace's {MODEL_TYPES[model_type]} models.",
            field=model_type,
        )
    if not option.usable:
        raise ApplicationError(
            f"{option.id} cannot be the default: {option.status.label.lower()}. "
            f"{option.status.reason}",
            field=model_type,
        )
    return option


def _set(
    *,
    workspace: Workspace,
    model_type: str,
    value: str,
    acting_user: User,
    options: Sequence[ModelOption] | None = None,
) -> bool:
    """Store one default; False when it was already that model (nothing written)."""
    _check_type(model_type)
    option = _usable_option(workspace, model_type, value, options)
    current = (
        DefaultModel.objects.select_for_update()
        .filter(workspace=workspace, model_type=model_type)
        .first()
    )
    previous = None
    if current is not None:
        previous = model_id(
            provider=current.provider,
            name=current.model_name,
            model_type=model_type,
            custom=current.custom,
        )
        if previous == option.id:
            return False
    DefaultModel.objects.update_or_create(
        workspace=workspace,
        model_type=model_type,
        defaults={
            "provider": option.provider.key,
            "model_name": option.name,
            "custom": option.custom,
            "updated_by": acting_user,
        },
    )
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="default_model.set",
        object_type="default_model",
        object_id=model_type,
        object_repr=f"{MODEL_TYPES[model_type]}: {option.id}",
        details={"model_type": model_type, "model": option.id, "previous": previous},
    )
    return True


@transaction.atomic(durable=True)
def default_model_set(
    *, workspace: Workspace, model_type: str, model_id: str, acting_user: User
) -> bool:
    """Make `model_id` the workspace's default `model_type` model. It must be one of the
    workspace's models of that type and usable now. True when something changed."""
    require_manager(workspace=workspace, user=acting_user)
    return _set(workspace=workspace, model_type=model_type, value=model_id, acting_user=acting_user)


@transaction.atomic(durable=True)
def default_models_save(
    *, workspace: Workspace, choices: Mapping[str, str], acting_user: User
) -> list[str]:
    """Save several defaults at once (the settings page's Save), all or nothing. Empty values
    are left as they are. Returns the model types that changed."""
    require_manager(workspace=workspace, user=acting_user)
    options = model_options(workspace=workspace) if any(choices.values()) else []
    changed = []
    for model_type, value in choices.items():
        if value and _set(
            workspace=workspace,
            model_type=model_type,
            value=value,
            acting_user=acting_user,
            options=options,
        ):
            changed.append(model_type)
    return changed


@transaction.atomic(durable=True)
def default_model_clear(*, workspace: Workspace, model_type: str, acting_user: User) -> bool:
    """Remove the default of a type; True when there was one."""
    require_manager(workspace=workspace, user=acting_user)
    _check_type(model_type)
    current = (
        DefaultModel.objects.select_for_update()
        .filter(workspace=workspace, model_type=model_type)
        .first()
    )
    if current is None:
        return False
    previous = model_id(
        provider=current.provider,
        name=current.model_name,
        model_type=model_type,
        custom=current.custom,
    )
    current.delete()
    audit_record(
        workspace=workspace,
        actor=acting_user,
        action="default_model.clear",
        object_type="default_model",
        object_id=model_type,
        object_repr=f"{MODEL_TYPES[model_type]}: {previous}",
        details={"model_type": model_type, "previous": previous},
    )
    return True


def default_model_id(*, workspace: Workspace, model_type: str) -> str:
    """The saved default's id for a type, "" when none is saved (one query)."""
    saved = DefaultModel.objects.filter(workspace=workspace, model_type=model_type).first()
    if saved is None:
        return ""
    return model_id(
        provider=saved.provider, name=saved.model_name, model_type=model_type, custom=saved.custom
    )
