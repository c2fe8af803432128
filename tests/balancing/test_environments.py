"""Environments' pins and pools: which credential serves a call in each environment, what
falls back to the workspace's default, what deleting a credential or an environment does,
and who may change any of it."""

from __future__ import annotations

from collections import Counter

import pytest

from api_keys.models import ApiKey
from api_keys.services import api_key_create
from balancing.models import Pin, Pool
from balancing.services import ModelRef, pin_set, pool_entry_add, pool_set_enabled
from credentials.services import credential_delete, credential_store
from invocation.failover import NoCredential, invoke, route_for
from tests.factories import CredentialFactory, CustomModelFactory, WorkspaceFactory
from workspaces.exceptions import ApplicationError, NotAllowed
from workspaces.models import AuditEntry, Environment
from workspaces.services import (
    default_environment,
    environment_create,
    environment_delete,
    environment_update,
)
from workspaces.signals import what_ends_with_environment

GPT = ModelRef("openai", "gpt-4o", "llm")
MINI = ModelRef("openai", "gpt-4o-mini", "llm")


def served_by(workspace, ref=GPT, environment=None) -> str:
    """The name of the credential a call to `ref` is served with in `environment`."""
    served = invoke(
        workspace=workspace,
        ref=ref,
        call=lambda credential: credential.name,
        environment=environment.pk if environment else None,
    )
    return served.value


@pytest.fixture
def setup(workspace, members):
    """Acme with a paid default key and a rate-limited one, Production and Development."""
    owner = members["owner"].user
    paid = CredentialFactory(workspace=workspace, name="paid", is_default=True)
    limited = CredentialFactory(workspace=workspace, name="rate-limited")
    production = default_environment(workspace)
    development = environment_create(workspace=workspace, name="Development", acting_user=owner)
    return owner, paid, limited, production, development


def test_every_workspace_starts_with_production_open_to_members(workspace):
    production = default_environment(workspace)
    assert (production.name, production.is_default, production.members_create_keys) == (
        "Production",
        True,
        True,
    )
    assert default_environment(workspace) == production  # made once
    assert Environment.objects.filter(workspace=workspace).count() == 1


def test_a_provider_pin_serves_its_environment_and_nothing_else(setup, workspace):
    owner, paid, limited, production, development = setup
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)

    assert served_by(workspace, environment=development) == "rate-limited"
    assert served_by(workspace, MINI, environment=development) == "rate-limited"
    assert served_by(workspace, environment=production) == "paid"
    assert served_by(workspace) == "paid"  # no environment: the default one

    pin_set(environment=development, provider="openai", credential=None, acting_user=owner)
    assert served_by(workspace, environment=development) == "paid"  # follows the default again


def test_a_model_pin_wins_over_the_provider_pin(setup, workspace):
    owner, paid, limited, production, development = setup
    third = CredentialFactory(workspace=workspace, name="third")
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)
    pin_set(
        environment=development, provider="openai", credential=third, acting_user=owner, ref=MINI
    )
    assert served_by(workspace, MINI, environment=development) == "third"
    assert served_by(workspace, GPT, environment=development) == "rate-limited"


def test_production_may_pin_too(setup, workspace):
    owner, paid, limited, production, development = setup
    pin_set(environment=production, provider="openai", credential=limited, acting_user=owner)
    assert served_by(workspace) == "rate-limited"
    assert served_by(workspace, environment=development) == "paid"


def test_a_pin_serves_where_the_workspace_has_no_default(workspace, members):
    owner = members["owner"].user
    only = CredentialFactory(workspace=workspace, name="only")
    development = environment_create(workspace=workspace, name="Development", acting_user=owner)
    with pytest.raises(NoCredential):
        served_by(workspace)
    pin_set(environment=development, provider="openai", credential=only, acting_user=owner)
    assert served_by(workspace, environment=development) == "only"


def test_custom_models_take_model_pins_of_their_own_credentials(setup, workspace):
    owner, paid, limited, production, development = setup
    CustomModelFactory(workspace=workspace, provider="openai", name="ft:mine", type="llm")
    custom = ModelRef("openai", "ft:mine", "llm", custom=True)
    own_default = CredentialFactory(
        workspace=workspace, name="own", model_name="ft:mine", model_type="llm", is_default=True
    )
    own_dev = CredentialFactory(
        workspace=workspace, name="own-dev", model_name="ft:mine", model_type="llm"
    )
    # A provider pin is for the provider's predefined models, not a custom model's own keys.
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)
    assert served_by(workspace, custom, environment=development) == "own"
    pin_set(
        environment=development,
        provider="openai",
        credential=own_dev,
        acting_user=owner,
        ref=custom,
    )
    assert served_by(workspace, custom, environment=development) == "own-dev"
    assert served_by(workspace, custom, environment=production) == own_default.name


def test_pins_must_be_credentials_of_the_scope(setup, workspace):
    owner, paid, limited, production, development = setup
    other_workspace_key = CredentialFactory(workspace=WorkspaceFactory(), name="theirs")
    anthropic_key = CredentialFactory(workspace=workspace, provider="anthropic", name="claude")
    CustomModelFactory(workspace=workspace, provider="openai", name="ft:mine", type="llm")
    custom_key = CredentialFactory(
        workspace=workspace, name="own", model_name="ft:mine", model_type="llm"
    )
    for credential in (other_workspace_key, anthropic_key, custom_key):
        with pytest.raises(ApplicationError, match="cannot serve"):
            pin_set(
                environment=development,
                provider="openai",
                credential=credential,
                acting_user=owner,
            )
    with pytest.raises(ApplicationError, match="not a predefined"):
        pin_set(
            environment=development,
            provider="openai",
            credential=limited,
            acting_user=owner,
            ref=ModelRef("openai", "no-such-model", "llm"),
        )
    assert not Pin.objects.exists()


def test_only_owners_and_admins_change_environments_and_pins(setup, workspace, members):
    owner, paid, limited, production, development = setup
    for role in ("editor", "member"):
        user = members[role].user
        with pytest.raises(NotAllowed):
            pin_set(
                environment=development, provider="openai", credential=limited, acting_user=user
            )
        with pytest.raises(NotAllowed):
            environment_create(workspace=workspace, name="Staging", acting_user=user)
        with pytest.raises(NotAllowed):
            environment_update(environment=development, name="Dev", acting_user=user)
        with pytest.raises(NotAllowed):
            environment_delete(environment=development, acting_user=user)
    admin = members["admin"].user
    pin_set(environment=development, provider="openai", credential=limited, acting_user=admin)
    assert list(Environment.objects.filter(workspace=workspace).values_list("name", flat=True)) == [
        "Production",
        "Development",
    ]
    assert Pin.objects.count() == 1


def test_every_pin_change_is_audited(setup, workspace):
    owner, paid, limited, production, development = setup
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)
    pin_set(environment=development, provider="openai", credential=paid, acting_user=owner)
    pin_set(environment=development, provider="openai", credential=None, acting_user=owner)
    rows = AuditEntry.objects.filter(object_type="pin").order_by("created_at", "pk")
    assert [row.sentence for row in rows] == [
        "Development now uses rate-limited for openai",
        "Development now uses paid for openai",
        "Development follows the default for openai again",
    ]
    assert rows[1].details["before"] == "rate-limited"


def test_an_environment_pool_rotates_its_own_credentials(setup, workspace, pro_plan):
    owner, paid, limited, production, development = setup
    workspace.plan = pro_plan
    workspace.save()
    second = CredentialFactory(workspace=workspace, name="second")
    dev_gpt = ModelRef("openai", "gpt-4o", "llm", environment=development.pk)
    pool_entry_add(workspace=workspace, ref=dev_gpt, credential=second, acting_user=owner)
    pool_set_enabled(workspace=workspace, ref=dev_gpt, enabled=True, acting_user=owner)

    # The pool's Default Config entry is the environment's default: the workspace's here.
    served = Counter(served_by(workspace, environment=development) for _ in range(4))
    assert served == {"paid": 2, "second": 2}
    # ... and what the environment pins, once it pins something.
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)
    served = Counter(served_by(workspace, environment=development) for _ in range(4))
    assert served == {"rate-limited": 2, "second": 2}
    assert Counter(served_by(workspace, environment=production) for _ in range(3)) == {"paid": 3}

    # Its routing state is its own: another key than the workspace's pool would use.
    dev_route = route_for(workspace=workspace, ref=GPT, environment=development.pk)
    assert dev_route.pool_key.endswith(f":env:{development.pk}")
    assert route_for(workspace=workspace, ref=GPT, environment=production.pk).pool_key is None


def test_the_workspace_pool_serves_environments_that_pin_nothing(setup, workspace, pro_plan):
    owner, paid, limited, production, development = setup
    workspace.plan = pro_plan
    workspace.save()
    pool_entry_add(workspace=workspace, ref=GPT, credential=limited, acting_user=owner)
    pool_set_enabled(workspace=workspace, ref=GPT, enabled=True, acting_user=owner)
    staging = environment_create(workspace=workspace, name="Staging", acting_user=owner)

    assert Counter(served_by(workspace, environment=staging) for _ in range(4)) == {
        "paid": 2,
        "rate-limited": 2,
    }
    # An environment pinning a credential is served by it alone, not by the workspace's pool.
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)
    assert Counter(served_by(workspace, environment=development) for _ in range(3)) == {
        "rate-limited": 3
    }


def test_deleting_a_pinned_credential_unpins_it_says_so_and_audits_it(setup, workspace):
    owner, paid, limited, production, development = setup
    staging = environment_create(workspace=workspace, name="Staging", acting_user=owner)
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)
    pin_set(environment=staging, provider="openai", credential=limited, acting_user=owner, ref=MINI)
    assert served_by(workspace, environment=development) == "rate-limited"

    deleted = credential_delete(credential=limited, acting_user=owner)

    assert sorted(deleted.pins_cleared) == [
        "Development (openai)",
        "Staging (openai/gpt-4o-mini (llm))",
    ]
    assert not Pin.objects.exists()
    assert served_by(workspace, environment=development) == "paid"
    reasons = AuditEntry.objects.filter(action="environment.unpin").values_list(
        "details__reason", flat=True
    )
    assert list(reasons) == ["the credential was deleted"] * 2


def test_pins_are_kept_when_their_credential_is_edited(setup, workspace):
    owner, paid, limited, production, development = setup
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)
    credential_store(
        workspace=workspace,
        provider="openai",
        name="rate-limited (renamed)",
        config=limited.config,
        secrets={"api_key": "sk-test-edited-0000"},
        credential=limited,
        acting_user=owner,
    )
    pin = Pin.objects.get()
    assert pin.credential.name == "rate-limited (renamed)"
    assert served_by(workspace, environment=development) == "rate-limited (renamed)"


def test_deleting_an_environment_asks_names_and_revokes_its_keys(setup, workspace, members):
    owner, paid, limited, production, development = setup
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)
    dev_key = api_key_create(
        workspace=workspace, name="ci", acting_user=owner, environment=development
    ).api_key
    prod_key = api_key_create(workspace=workspace, name="web", acting_user=owner).api_key

    assert what_ends_with_environment(environment=development) == [
        f"API key “ci” ({dev_key.prefix}…)"
    ]
    ended = environment_delete(environment=development, acting_user=owner)

    assert ended == [f"API key “ci” ({dev_key.prefix}…)"]
    assert ApiKey.objects.get(pk=dev_key.pk).revoked_at is not None
    assert ApiKey.objects.get(pk=prod_key.pk).revoked_at is None
    assert not Pin.objects.exists()
    assert AuditEntry.objects.filter(action="environment.delete").get().sentence == (
        "Deleted environment Development"
    )
    revoked = AuditEntry.objects.get(action="api_key.revoke")
    assert revoked.details["reason"] == "environment deleted"


def test_the_default_environment_cannot_be_deleted(setup):
    owner, paid, limited, production, development = setup
    with pytest.raises(ApplicationError, match="cannot be deleted"):
        environment_delete(environment=production, acting_user=owner)
    assert Environment.objects.filter(pk=production.pk).exists()


def test_renaming_changes_nothing_else(setup, workspace):
    owner, paid, limited, production, development = setup
    pin_set(environment=development, provider="openai", credential=limited, acting_user=owner)
    key = api_key_create(
        workspace=workspace, name="ci", acting_user=owner, environment=development
    ).api_key
    environment_update(environment=development, name="Dev", acting_user=owner)
    environment_update(environment=production, name="Live", acting_user=owner)

    key.refresh_from_db()
    assert key.environment.name == "Dev"
    assert served_by(workspace, environment=Environment.objects.get(name="Dev")) == "rate-limited"
    assert default_environment(workspace).name == "Live"
    assert AuditEntry.objects.filter(action="environment.rename").first().sentence == (
        "Renamed environment Production to Live"
    )


@pytest.mark.parametrize("name", ["", "   ", "x" * 61, "Prod\x00", "development"])
def test_bad_environment_names_are_refused_and_change_nothing(setup, workspace, name):
    owner = setup[0]
    with pytest.raises(ApplicationError):
        environment_create(workspace=workspace, name=name, acting_user=owner)
    assert Environment.objects.filter(workspace=workspace).count() == 2


def test_members_create_keys_only_where_they_are_let(setup, workspace, members):
    owner, paid, limited, production, development = setup
    member = members["member"].user
    assert (
        api_key_create(workspace=workspace, name="mine", acting_user=member).api_key.environment
        == production
    )
    with pytest.raises(NotAllowed, match="Only owners and admins create keys in Development"):
        api_key_create(workspace=workspace, name="dev", acting_user=member, environment=development)
    admin_key = api_key_create(
        workspace=workspace, name="dev", acting_user=members["admin"].user, environment=development
    )
    assert admin_key.api_key.environment == development

    environment_update(environment=development, members_create_keys=True, acting_user=owner)
    created = api_key_create(
        workspace=workspace, name="dev", acting_user=member, environment=development
    )
    assert created.api_key.environment == development
    assert ApiKey.objects.filter(created_by=member).count() == 2


def test_pools_of_a_deleted_environment_go_with_it(setup, workspace, pro_plan):
    owner, paid, limited, production, development = setup
    workspace.plan = pro_plan
    workspace.save()
    dev_gpt = ModelRef("openai", "gpt-4o", "llm", environment=development.pk)
    pool_entry_add(workspace=workspace, ref=dev_gpt, credential=limited, acting_user=owner)
    environment_delete(environment=development, acting_user=owner)
    assert not Pool.objects.exists()
