"""Planning a parsed provisioning file against a workspace (one `Step` per item: create,
update, unchanged or delete) and applying the plan all or nothing.

It writes nothing itself: every write is a service's (`credential_store`, `credential_set_default`,
`credential_delete`, `custom_model_ensure`, `custom_model_remove`, `pool_configure`,
`pool_delete`, `provider_preference_set`, `environment_create`, `environment_update`,
`environment_delete`, `pin_set`), called with the operator as the actor
(`Operator("manage.py apply_providers")`), so the rules and the audit rows are the page's and
the audit log names the command. What it adds is the check before: credentials are validated
by the adapter's `validate` exactly as `pending_validation_run` does, outside the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import transaction

from balancing.models import Pin, Pool, PoolEntry
from balancing.services import (
    ModelRef,
    model_ref_check,
    pin_set,
    pool_configure,
    pool_delete,
    require_load_balancing,
)
from credentials.crypto import SecretDecryptionError
from credentials.models import Credential, CustomModel
from credentials.services import (
    credential_delete,
    credential_schema,
    credential_set_default,
    credential_store,
    custom_model_ensure,
    custom_model_set_features,
    kept_secret_moved,
)
from providers.services import custom_model_remove
from system.models import ProviderPreference
from system.services import provider_preference_set
from upstream.calling import get_adapter
from upstream.errors import ProviderError, UpstreamError
from upstream.registry import get_provider
from workspaces.actors import Actor, Operator
from workspaces.exceptions import ApplicationError
from workspaces.models import Environment, Workspace
from workspaces.services import (
    DEFAULT_ENVIRONMENT_NAME,
    default_environment,
    environment_create,
    environment_delete,
    environment_update,
)
from workspaces.signals import what_ends_with_environment

from .parser import (
    CredentialListSpec,
    CredentialSpec,
    CustomModelSpec,
    EnvironmentSpec,
    PinSpec,
    PoolSpec,
    ProviderSection,
    ProvisioningError,
    ProvisioningFile,
    custom_model_path,
    pin_label,
    pool_label,
)

logger = logging.getLogger(__name__)

COMMAND = Operator("manage.py apply_providers")  # who the audit log says acted

CREATE, UPDATE, UNCHANGED, DELETE = "create", "update", "unchanged", "delete"


# --- the plan ----------------------------------------------------------------------------------

# Writes run in this order, whatever order the plan prints: credentials exist before a default
# or a pool names them, and pools stop naming pruned credentials before those go (so pruning
# does not "stop" a pool that the file keeps); a pruned custom model is removed before its
# credentials go, so its removal is audited rather than implied by its last credential's.
# Pruned environments go first, so a renamed one may take a name they free; the default
# environment is renamed before others are made (one may take its old name); environments
# exist before their pins and pools, and pins move off pruned credentials before those go.
PHASE_PREFERENCE, PHASE_ENVIRONMENT_DELETE = 0, 1
PHASE_ENVIRONMENT_DEFAULT, PHASE_ENVIRONMENT = 2, 3
PHASE_MODEL, PHASE_CREDENTIAL, PHASE_DEFAULT = 4, 5, 6
PHASE_PIN_DELETE, PHASE_PIN = 7, 8
PHASE_POOL_DELETE, PHASE_POOL, PHASE_MODEL_DELETE, PHASE_CREDENTIAL_DELETE = 9, 10, 11, 12


@dataclass(frozen=True)
class Step:
    """One line of the plan; `write` does it (None when unchanged), `validate` is the
    credential a provider must accept first."""

    action: str
    path: str
    detail: str = ""
    phase: int = field(default=0, compare=False)
    write: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    validate: CredentialSpec | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.action:<9} {self.path}" + (f" ({self.detail})" if self.detail else "")


def provisioning_workspace(spec: ProvisioningFile) -> Workspace:
    workspace = Workspace.objects.filter(slug=spec.workspace).first()
    if workspace is None:
        raise ProvisioningError("workspace", f"no workspace with the slug {spec.workspace!r}")
    return workspace


def provisioning_plan(
    *,
    workspace: Workspace,
    spec: ProvisioningFile,
    prune: bool,
    lock: bool = False,
    acting_user: Actor = COMMAND,
) -> list[Step]:
    """What applying `spec` would do, item by item; raises ProvisioningError for an item the
    workspace cannot take (load balancing off its plan, an unknown predefined model)."""
    return _Planner(workspace, spec, prune=prune, lock=lock, actor=acting_user).steps()


class _Planner:
    def __init__(
        self, workspace: Workspace, spec: ProvisioningFile, *, prune: bool, lock: bool, actor
    ):
        self.workspace = workspace
        self.actor = actor
        self.spec = spec
        self.prune = prune

        def rows(queryset):
            return queryset.select_for_update() if lock else queryset

        # Secrets are read one by one, only for the credentials the file names (and only to
        # compare): a row that does not decrypt must not stop the plan.
        self.credentials = {
            (c.provider, c.model_name, c.model_type, c.name): c
            for c in rows(Credential.objects.filter(workspace=workspace).defer("secret_data"))
        }
        self.custom_models = {
            (m.provider, m.name, m.type): m
            for m in rows(CustomModel.objects.filter(workspace=workspace))
        }
        # (environment id or None for the workspace's pool, the model): the pool
        self.pools = {
            (p.environment_id, ModelRef(p.provider, p.model_name, p.model_type, p.custom)): p
            for p in rows(Pool.objects.filter(workspace=workspace))
        }
        self.entries: dict[int, list[tuple[int | None, bool]]] = {}
        for pool_id, credential_id, enabled in PoolEntry.objects.filter(
            pool__workspace=workspace
        ).values_list("pool_id", "credential_id", "enabled"):
            self.entries.setdefault(pool_id, []).append((credential_id, enabled))
        self.preferences = {
            p.provider: p for p in rows(ProviderPreference.objects.filter(workspace=workspace))
        }
        self.names_by_id = {c.pk: c.name for c in self.credentials.values()}
        self.environments = list(rows(Environment.objects.filter(workspace=workspace)))
        self.default_to_make: str | None = None  # see match_environments
        self.pins: dict[int, dict[tuple[str, str, str, bool], Pin]] = {}
        for pin in rows(Pin.objects.filter(workspace=workspace)):
            key = (pin.provider, pin.model_name, pin.model_type, pin.custom)
            self.pins.setdefault(pin.environment_id, {})[key] = pin

    def steps(self) -> list[Step]:
        steps: list[Step] = []
        for section in self.spec.providers:
            if section.preferred is not None:
                steps.append(self.preference(section))
            steps += self.credential_list(section.credentials)
            for model in section.custom_models:
                steps.append(self.custom_model(model))
                steps += self.credential_list(model.credentials)
            steps += [self.pool(pool) for pool in section.pools]
        matched = self.match_environments()
        for spec in self.spec.environments or ():
            current = matched[spec.name]
            steps.append(self.environment(spec, current))
            steps += [self.pin(pin, spec, current) for pin in spec.pins]
            steps += [self.pool(pool, current) for pool in spec.pools]
        if self.prune:
            steps += self.deletions(matched)
        return steps

    # -- items --------------------------------------------------------------------------------

    def preference(self, section: ProviderSection) -> Step:
        path = f"{section.path}.preferred"
        current = self.preferences.get(section.provider)
        if current is not None and current.preferred == section.preferred:
            return Step(UNCHANGED, path, section.preferred)

        def write():
            provider_preference_set(
                workspace=self.workspace,
                provider=section.provider,
                preferred=section.preferred,
                acting_user=self.actor,
            )

        action = CREATE if current is None else UPDATE
        return Step(action, path, section.preferred, PHASE_PREFERENCE, write)

    def credential_list(self, listed: CredentialListSpec) -> list[Step]:
        steps = [self.credential(spec) for spec in listed.credentials]
        if listed.credentials:
            steps.append(self.default(listed))
        return steps

    def credential(self, spec: CredentialSpec) -> Step:
        current = self.credentials.get((*spec.scope.fields.values(), spec.name))
        if current is None:
            return Step(
                CREATE,
                spec.path,
                phase=PHASE_CREDENTIAL,
                write=lambda: self.credential_save(spec, None),
                validate=spec,
            )
        changed = _differing_fields(current.config, spec.config)
        moved = kept_secret_moved(
            schema=credential_schema(
                get_provider(spec.scope.provider), custom=bool(spec.scope.model_name)
            ),
            stored_config=current.config,
            values=spec.config,
            kept=[v for v in current.masks if v not in spec.secrets],
            verb="give",
        )
        if moved:
            # Left out, the stored secret would be dropped; the rule is the form's: a new
            # address gets its secrets stated again (as ${ENV_VAR}).
            raise ProvisioningError(spec.path, moved)
        try:
            changed += _differing_fields(current.secrets, spec.secrets)
        except SecretDecryptionError:
            changed += sorted(spec.secrets)  # unreadable now: the file's value replaces it
        if not changed:
            return Step(UNCHANGED, spec.path)
        return Step(
            UPDATE,
            spec.path,
            f"changed: {', '.join(sorted(changed))}",
            PHASE_CREDENTIAL,
            lambda: self.credential_save(spec, current, changed=sorted(changed)),
            spec,
        )

    def default(self, listed: CredentialListSpec) -> Step:
        path = f"{listed.path}.default_credential"
        scope = tuple(listed.scope.fields.values())
        current = next(
            (c.name for key, c in self.credentials.items() if key[:3] == scope and c.is_default),
            None,
        )
        target = listed.default
        if target is None:
            survives = current is not None and (current in listed.names or not self.prune)
            target = current if survives else listed.names[0]
        if target == current:
            return Step(UNCHANGED, path, target)

        def write():
            credential = Credential.objects.defer("secret_data").get(
                workspace=self.workspace, **listed.scope.fields, name=target
            )
            credential_set_default(credential=credential, acting_user=self.actor)

        action = CREATE if current is None else UPDATE
        return Step(action, path, target, PHASE_DEFAULT, write)

    def custom_model(self, spec: CustomModelSpec) -> Step:
        current = self.custom_models.get((spec.provider, spec.name, spec.type))
        if current is not None:
            if spec.features is None or list(spec.features) == list(current.features or ()):
                return Step(UNCHANGED, spec.path)

            def update():
                custom_model_set_features(  # audits "model.features" itself
                    custom_model=current, features=spec.features, acting_user=self.actor
                )

            detail = f"features: {', '.join(spec.features) or 'none'}"
            return Step(UPDATE, spec.path, detail, phase=PHASE_MODEL, write=update)

        def write():
            custom_model_ensure(  # audits "model.add" itself
                workspace=self.workspace,
                provider=spec.provider,
                name=spec.name,
                model_type=spec.type,
                acting_user=self.actor,
                features=spec.features,
            )

        return Step(CREATE, spec.path, phase=PHASE_MODEL, write=write)

    def pool(self, spec: PoolSpec, environment: Environment | None = None) -> Step:
        """A workspace pool, or (`spec.environment`) the pool of an environment, `environment`
        when it exists already."""
        try:
            require_load_balancing(self.workspace)
            if not spec.ref.custom:
                model_ref_check(workspace=self.workspace, ref=spec.ref)
        except ApplicationError as exc:
            raise ProvisioningError(spec.path, exc.message) from None
        wanted = [(e.credential, e.enabled) for e in spec.entries]
        detail = _pool_detail(wanted, spec.enabled)
        current = None
        if spec.environment is None or environment is not None:
            current = self.pools.get((environment.pk if environment else None, spec.ref))
        if current is not None:
            entries = [
                (self.names_by_id.get(credential_id) if credential_id else None, enabled)
                for credential_id, enabled in self.entries.get(current.pk, [])
            ]
            if entries == wanted and current.enabled == spec.enabled:
                return Step(UNCHANGED, spec.path, detail)

        def write():
            self.pool_save(spec, created=current is None)

        return Step(CREATE if current is None else UPDATE, spec.path, detail, PHASE_POOL, write)

    # -- environments -------------------------------------------------------------------------

    def match_environments(self) -> dict[str, Environment | None]:
        """The file's environments (by name) and the rows they are: the one marked `default`
        is the default environment whatever its name, the others match by name, ignoring case;
        None for one to create."""
        matched: dict[str, Environment | None] = {}
        if self.spec.environments is None:
            return matched
        default = next((e for e in self.environments if e.is_default), None)
        wanted = next((e for e in self.spec.environments if e.default), None)
        if default is None:
            # A workspace made before environments, or outside the services, gets its default
            # on first use (`default_environment`): the file's default, or its Production.
            wanted = wanted or next(
                (
                    e
                    for e in self.spec.environments
                    if e.name.casefold() == DEFAULT_ENVIRONMENT_NAME.casefold()
                ),
                None,
            )
            self.default_to_make = wanted.name if wanted is not None else None
        claimed = set()
        if wanted is not None and default is not None:
            matched[wanted.name] = default
            claimed.add(default.pk)
            holder = next(
                (
                    e
                    for e in self.environments
                    if e.pk != default.pk and e.name.casefold() == wanted.name.casefold()
                ),
                None,
            )
            if holder is not None and not self.prune:
                raise ProvisioningError(
                    f"{wanted.path}.name",
                    f"the default environment is {default.name}, and {holder.name} already has "
                    "the name it would take: apply with --prune (the file does not list "
                    f"{holder.name}, so it would be deleted first), or choose another name",
                )
        for spec in self.spec.environments:
            if spec.name in matched:
                continue
            current = next(
                (
                    e
                    for e in self.environments
                    if e.pk not in claimed and e.name.casefold() == spec.name.casefold()
                ),
                None,
            )
            matched[spec.name] = current
            if current is not None:
                claimed.add(current.pk)
        return matched

    def environment(self, spec: EnvironmentSpec, current: Environment | None) -> Step:
        if current is None and spec.name == self.default_to_make:
            keys = True if spec.members_create_keys is None else spec.members_create_keys

            def make_default():
                made = default_environment(self.workspace)
                _as_item(
                    spec.path,
                    lambda: environment_update(
                        environment=made,
                        acting_user=self.actor,
                        name=spec.name,
                        members_create_keys=keys,
                    ),
                )

            detail = f"the default; members_create_keys: {_yaml_bool(keys)}"
            return Step(CREATE, spec.path, detail, PHASE_ENVIRONMENT_DEFAULT, make_default)
        if current is None:
            keys = bool(spec.members_create_keys)

            def create():
                _as_item(
                    spec.path,
                    lambda: environment_create(
                        workspace=self.workspace,
                        name=spec.name,
                        members_create_keys=keys,
                        acting_user=self.actor,
                    ),
                )

            detail = f"members_create_keys: {_yaml_bool(keys)}"
            return Step(CREATE, spec.path, detail, PHASE_ENVIRONMENT, create)
        name = spec.name if spec.name != current.name else None
        keys = spec.members_create_keys
        if keys == current.members_create_keys:
            keys = None
        changes = [f"renamed from {current.name}"] if name else []
        if keys is not None:
            changes.append(f"members_create_keys: {_yaml_bool(keys)}")
        if not changes:
            return Step(UNCHANGED, spec.path)

        def update():
            _as_item(
                spec.path,
                lambda: environment_update(
                    environment=current, acting_user=self.actor, name=name, members_create_keys=keys
                ),
            )

        phase = PHASE_ENVIRONMENT_DEFAULT if current.is_default else PHASE_ENVIRONMENT
        return Step(UPDATE, spec.path, "; ".join(changes), phase, update)

    def pin(self, pin: PinSpec, spec: EnvironmentSpec, environment: Environment | None) -> Step:
        if pin.ref is not None and not pin.ref.custom:
            _as_item(pin.path, lambda: model_ref_check(workspace=self.workspace, ref=pin.ref))
        current = self.pins.get(environment.pk, {}).get(pin.key) if environment else None
        before = self.names_by_id.get(current.credential_id) if current is not None else None
        if before == pin.credential:
            return Step(UNCHANGED, pin.path, pin.credential)

        def write():
            target = Environment.objects.get(workspace=self.workspace, name=spec.name)
            scope = pin.ref.credential_scope if pin.ref else {"model_name": "", "model_type": ""}
            credential = Credential.objects.defer("secret_data").get(
                workspace=self.workspace, provider=pin.provider, **scope, name=pin.credential
            )
            _as_item(
                pin.path,
                lambda: pin_set(
                    environment=target,
                    provider=pin.provider,
                    credential=credential,
                    acting_user=self.actor,
                    ref=pin.ref,
                ),
            )

        action = CREATE if current is None else UPDATE
        detail = pin.credential if before is None else f"{before} → {pin.credential}"
        return Step(action, pin.path, detail, PHASE_PIN, write)

    def environment_deletions(self, matched: dict[str, Environment | None]) -> list[Step]:
        """With `environments:` in the file: the environments it does not list, and the pins
        and pools a listed one has and the file does not."""
        if self.spec.environments is None:
            return []
        steps = []
        kept = {e.pk for e in matched.values() if e is not None}
        for environment in self.environments:
            if environment.pk in kept:
                continue
            if environment.is_default:
                raise ProvisioningError(
                    "environments",
                    f"{environment.name}, the default environment, is not listed: --prune would "
                    "delete it, and the default environment cannot be deleted (list it, e.g. "
                    f"`- name: {environment.name}`)",
                )
            steps.append(
                Step(
                    DELETE,
                    f"environments[{environment.name}]",
                    self.environment_delete_detail(environment),
                    PHASE_ENVIRONMENT_DELETE,
                    lambda e=environment: environment_delete(environment=e, acting_user=self.actor),
                )
            )
        for spec in self.spec.environments:
            environment = matched[spec.name]
            if environment is None:
                continue
            listed = {pin.key for pin in spec.pins}
            for key, pin in self.pins.get(environment.pk, {}).items():
                if key in listed:
                    continue
                provider, model_name, model_type, custom = key
                ref = ModelRef(provider, model_name, model_type, custom) if model_name else None
                steps.append(
                    Step(
                        DELETE,
                        f"{spec.path}.pins[{pin_label(provider, ref)}]",
                        f"was {self.names_by_id.get(pin.credential_id, '?')}",
                        PHASE_PIN_DELETE,
                        lambda e=environment, p=provider, r=ref: self.pin_clear(e, p, r),
                    )
                )
            if not self.workspace.load_balancing_allowed:
                continue
            listed_pools = {pool.ref for pool in spec.pools}
            for (environment_id, ref), pool in self.pools.items():
                if environment_id == environment.pk and ref not in listed_pools:
                    path = f"{spec.path}.load_balancing.{ref.provider}[{pool_label(ref)}]"
                    steps.append(
                        Step(
                            DELETE, path, "", PHASE_POOL_DELETE, lambda p=pool: self.pool_delete(p)
                        )
                    )
        return steps

    def environment_delete_detail(self, environment: Environment) -> str:
        ending = what_ends_with_environment(environment=environment)
        parts = [f"revokes {', '.join(ending)}" if ending else "no API key to revoke"]
        pins = len(self.pins.get(environment.pk, {}))
        pools = sum(1 for env_id, _ in self.pools if env_id == environment.pk)
        if pins or pools:
            parts.append(f"{_count(pins, 'pin')} and {_count(pools, 'pool')} go with it")
        return "; ".join(parts)

    def deletions(self, matched: dict[str, Environment | None]) -> list[Step]:
        """Everything of the workspace the file does not list (--prune)."""
        listed_credentials, listed_models, listed_pools = set(), set(), set()
        for section in self.spec.providers:
            lists = [section.credentials] + [m.credentials for m in section.custom_models]
            for listed in lists:
                listed_credentials |= {(*listed.scope.fields.values(), n) for n in listed.names}
            listed_models |= {(m.provider, m.name, m.type) for m in section.custom_models}
            listed_pools |= {p.ref for p in section.pools}
        steps = []
        # A plan without load balancing keeps its pools (as turning balancing off does), so a
        # later move to a paid plan finds them again.
        if self.workspace.load_balancing_allowed:
            for (environment_id, ref), pool in self.pools.items():
                if environment_id is None and ref not in listed_pools:
                    path = f"providers.{ref.provider}.load_balancing[{pool_label(ref)}]"
                    steps.append(
                        Step(
                            DELETE, path, "", PHASE_POOL_DELETE, lambda p=pool: self.pool_delete(p)
                        )
                    )
        for key, model in self.custom_models.items():
            if key not in listed_models:
                steps.append(
                    Step(
                        DELETE,
                        custom_model_path(*key),
                        "",
                        PHASE_MODEL_DELETE,
                        lambda m=model: self.custom_model_delete(m),
                    )
                )
        for key, credential in self.credentials.items():
            if key not in listed_credentials:
                provider, model_name, model_type, name = key
                parent = (
                    custom_model_path(provider, model_name, model_type)
                    if model_name
                    else f"providers.{provider}"
                )
                steps.append(
                    Step(
                        DELETE,
                        f"{parent}.credentials[{name}]",
                        "",
                        PHASE_CREDENTIAL_DELETE,
                        lambda c=credential: self.credential_delete(c),
                    )
                )
        steps += self.environment_deletions(matched)
        return sorted(steps, key=lambda s: s.path)

    # -- writes -------------------------------------------------------------------------------

    def credential_save(
        self, spec: CredentialSpec, current: Credential | None, changed: list[str] = ()
    ) -> None:
        credential_store(
            workspace=self.workspace,
            **spec.scope.fields,
            name=spec.name,
            config=spec.config,
            secrets=spec.secrets,
            credential=current,
            acting_user=self.actor,
            changed=list(changed) or None,
        )

    def pool_save(self, spec: PoolSpec, *, created: bool) -> None:
        ref = spec.ref
        if spec.environment is not None:  # made or renamed by an earlier phase if need be
            environment = Environment.objects.get(workspace=self.workspace, name=spec.environment)
            ref = replace(ref, environment=environment.pk)
        by_name = {
            c.name: c
            for c in Credential.objects.filter(
                workspace=self.workspace, provider=spec.ref.provider, **spec.ref.credential_scope
            ).defer("secret_data")
        }
        try:
            pool_configure(
                workspace=self.workspace,
                ref=ref,
                entries=[
                    (by_name[e.credential] if e.credential else None, e.enabled)
                    for e in spec.entries
                ],
                enabled=spec.enabled,
                acting_user=self.actor,
            )
        except ApplicationError as exc:
            raise ProvisioningError(spec.path, exc.message) from None

    def pin_clear(self, environment: Environment, provider: str, ref: ModelRef | None) -> None:
        pin_set(
            environment=environment,
            provider=provider,
            credential=None,
            acting_user=self.actor,
            ref=ref,
        )

    def pool_delete(self, pool: Pool) -> None:
        pool_delete(pool=pool, acting_user=self.actor)

    def credential_delete(self, credential: Credential) -> None:
        credential_delete(credential=credential, acting_user=self.actor)

    def custom_model_delete(self, model: CustomModel) -> None:
        custom_model_remove(custom_model=model, acting_user=self.actor)


def _as_item(path: str, write: Callable[[], Any]) -> Any:
    """Run a service; a rule it refuses becomes the file item's error."""
    try:
        return write()
    except ProvisioningError:
        raise
    except ApplicationError as exc:
        raise ProvisioningError(path, exc.message) from None


def _yaml_bool(value: bool) -> str:
    return "true" if value else "false"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _differing_fields(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [k for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k)]


def _pool_detail(entries: list[tuple[str | None, bool]], enabled: bool) -> str:
    names = [(name or "Default Config") + ("" if on else " (off)") for name, on in entries]
    return f"{'on' if enabled else 'off'}: {', '.join(names) or 'no entries'}"


# --- applying ----------------------------------------------------------------------------------


def provisioning_apply(
    *,
    workspace: Workspace,
    spec: ProvisioningFile,
    plan: list[Step],
    prune: bool,
    report: Callable[[str], None] = lambda line: None,
    acting_user: Actor = COMMAND,
) -> None:
    """Validate every new or changed credential with its provider, then write the whole plan
    in one transaction; a failure anywhere writes nothing.

    The providers are called outside the transaction (they may take seconds); inside it the
    plan is worked out again under row locks, and if the workspace changed meanwhile nothing
    is written.
    """
    errors = []
    for step in plan:
        if step.validate is None:
            continue
        error = _validate(step.validate)
        if error is None:
            report(f"{'validated':<9} {step.path}")
        else:
            errors.append(f"{step.path}: {error.message}")
    if errors:
        raise ApplicationError("\n".join(errors))

    with transaction.atomic(durable=True):
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        locked = provisioning_plan(
            workspace=workspace, spec=spec, prune=prune, lock=True, acting_user=acting_user
        )
        if [str(s) for s in locked] != [str(s) for s in plan]:
            raise ApplicationError(
                "The workspace changed while the credentials were being validated; nothing "
                "was written. Run the command again."
            )
        for step in sorted(locked, key=lambda s: s.phase):  # sorted() is stable
            if step.write is not None:
                step.write()


def _validate(spec: CredentialSpec) -> ProviderError | None:
    """The check the UI's validation task makes (`pending_validation_run`), run here and now."""
    provider = get_provider(spec.scope.provider)
    try:
        get_adapter(provider).validate(
            {**spec.config, **spec.secrets}, model=spec.scope.model_name or None
        )
    except ProviderError as exc:
        return exc
    except Exception:  # an adapter bug must end as a failure, never as a saved credential
        logger.exception("provisioning: validating %s crashed", spec.path)
        return UpstreamError("unexpected error while validating")
    return None
