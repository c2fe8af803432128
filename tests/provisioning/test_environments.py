"""Environments in provisioning files (issue 24): environments, their pins and their own pools
planned, dry-run and applied all or nothing like the rest of the file; a file without
`environments:` leaves them alone; the export of a Production-only workspace is unchanged."""

from __future__ import annotations

import textwrap

import pytest

from api_keys.models import ApiKey
from api_keys.services import api_key_create
from balancing.models import Pin, Pool
from balancing.services import pin_set
from credentials.models import Credential
from tests.factories import WorkspaceFactory
from tests.provisioning.conftest import FT_KEY
from tests.provisioning.test_provisioning import (
    POOL,
    apply,
    apply_fails,
    export,
    full_file,
    plan_lines,
)
from workspaces.actors import Operator
from workspaces.models import AuditEntry, Environment
from workspaces.services import default_environment, environment_create

OPERATOR = Operator("test")

ENVIRONMENTS = """\
environments:
  - name: Production
    default: true
    members_create_keys: true
  - name: Development
    members_create_keys: false
    pins:
      - {provider: openai, credential: key-a}
      - {provider: openai, model: gpt-4o, type: llm, credential: key-b}
      - {provider: openai, model: my-finetune, type: llm, custom: true, credential: ft-key}
"""

ENVIRONMENT_POOL = """\
    load_balancing:
      openai:
        - model: gpt-4o-mini
          type: llm
          enabled: true
          entries: [default, key-b]
"""


@pytest.fixture
def production(workspace):
    """Every workspace made by the services has its Production."""
    return default_environment(workspace)


def with_environments(openai_url: str, environments: str = ENVIRONMENTS, pools: str = "") -> str:
    return full_file(openai_url, pools=pools) + textwrap.dedent(environments)


def pins_of(environment_name: str) -> list[tuple[str, str, str]]:
    return [
        (pin.provider, pin.model_name, pin.credential.name)
        for pin in Pin.objects.filter(environment__name=environment_name)
    ]


def test_apply_creates_environments_and_pins_and_says_so_in_the_plan(
    tmp_path, workspace, production, env, openai_url
):
    output = apply(tmp_path, with_environments(openai_url))

    lines = plan_lines(output)
    assert lines[-5:] == [
        "unchanged environments[Production]",
        "create    environments[Development] (members_create_keys: false)",
        "create    environments[Development].pins[openai] (key-a)",
        "create    environments[Development].pins[openai/gpt-4o (llm)] (key-b)",
        "create    environments[Development].pins[openai/my-finetune (llm, custom)] (ft-key)",
    ]
    development = Environment.objects.get(workspace=workspace, name="Development")
    assert not development.is_default
    assert not development.members_create_keys
    assert pins_of("Development") == [
        ("openai", "", "key-a"),
        ("openai", "gpt-4o", "key-b"),
        ("openai", "my-finetune", "ft-key"),
    ]
    audit = AuditEntry.objects.filter(workspace=workspace, action="environment.pin")
    assert audit.count() == 3

    again = apply(tmp_path, with_environments(openai_url))

    assert all(line.startswith("unchanged ") for line in plan_lines(again)), again


def test_dry_run_plans_environments_and_writes_nothing(
    tmp_path, workspace, production, env, openai_url, fake_providers
):
    apply(tmp_path, full_file(openai_url))
    audit_rows = AuditEntry.objects.count()

    output = apply(tmp_path, with_environments(openai_url), "--dry-run")

    assert "create    environments[Development] (members_create_keys: false)" in output
    assert "create    environments[Development].pins[openai] (key-a)" in output
    assert "Dry run: 4 to create" in output
    assert list(Environment.objects.filter(workspace=workspace)) == [production]
    assert not Pin.objects.exists()
    assert AuditEntry.objects.count() == audit_rows


def test_a_refused_key_writes_no_environment_or_pin(
    tmp_path, workspace, production, env, openai_url
):
    env.setenv("OPENAI_KEY_B", "sk-test-invalid-000000")

    message = apply_fails(tmp_path, with_environments(openai_url))

    assert message.startswith("providers.openai.credentials[key-b]: Authentication failed")
    assert list(Environment.objects.filter(workspace=workspace)) == [production]
    assert not Pin.objects.exists()
    assert not Credential.objects.filter(workspace=workspace).exists()


def test_a_pin_of_an_unknown_model_is_named_and_nothing_is_written(
    tmp_path, workspace, production, env, openai_url
):
    text = with_environments(openai_url).replace("model: gpt-4o,", "model: gpt-nope,")

    message = apply_fails(tmp_path, text)

    assert message.startswith("environments[Development].pins[openai/gpt-nope (llm)]: ")
    assert "not a predefined llm model" in message
    assert not Credential.objects.filter(workspace=workspace).exists()
    assert list(Environment.objects.filter(workspace=workspace)) == [production]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("credential: key-a}", "credential: key-z}"),
            "environments[Development].pins[openai].credential: no credential named 'key-z' "
            "in providers.openai.credentials",
        ),
        (
            (
                "provider: openai, model: gpt-4o, type: llm, credential: key-b",
                "provider: openai, model: gpt-4o, type: llm, credential: ft-key",
            ),
            "environments[Development].pins[openai/gpt-4o (llm)].credential: no credential "
            "named 'ft-key' in providers.openai.credentials; 'ft-key' is a credential of "
            "providers.openai.custom_models[my-finetune (llm)]",
        ),
        (
            ("  - name: Development", "  - name: production"),
            "environments[production]: is listed twice (names ignore case)",
        ),
        (
            (
                "{provider: openai, credential: key-a}",
                "{provider: openai, credential: key-a}\n"
                "      - {provider: openai, credential: key-b}",
            ),
            "environments[Development].pins[openai]: is listed twice",
        ),
        (
            ("{provider: openai, credential: key-a}", "{provider: nope, credential: key-a}"),
            "environments[Development].pins[0].provider: unknown provider 'nope'",
        ),
        (
            ("    members_create_keys: false", "    default: true"),
            "environments[Development].default: only one environment can be the default",
        ),
        (
            ("    members_create_keys: false", "    members_create_keys: sometimes"),
            "environments[Development].members_create_keys: must be true or false",
        ),
    ],
)
def test_mistakes_in_environments_are_named_by_their_place_in_the_file(
    tmp_path, workspace, production, env, openai_url, change, message
):
    text = with_environments(openai_url).replace(*change)

    error = apply_fails(tmp_path, text, "--dry-run")

    assert error.startswith(message), error


def test_a_pin_of_another_providers_credential_is_refused(
    tmp_path, workspace, production, env, openai_url, monkeypatch
):
    monkeypatch.setenv("ANTHROPIC_KEY", "sk-ant-test-valid-0123456789")
    text = full_file(openai_url) + textwrap.dedent(
        """\
          anthropic:
            credentials:
              - name: claude-key
                values: {api_key: "${ANTHROPIC_KEY}"}
        environments:
          - name: Development
            pins:
              - {provider: openai, credential: claude-key}
        """
    )

    message = apply_fails(tmp_path, text, "--dry-run")

    assert message == (
        "environments[Development].pins[openai].credential: no credential named 'claude-key' "
        "in providers.openai.credentials; 'claude-key' is a credential of providers.anthropic, "
        "and a pin names a credential of its own provider (or custom model)"
    )


def test_a_file_without_environments_keeps_environments_and_pins_even_with_prune(
    tmp_path, pro, production, env, openai_url
):
    apply(tmp_path, with_environments(openai_url, ENVIRONMENTS + ENVIRONMENT_POOL))

    output = apply(tmp_path, full_file(openai_url), "--prune")

    assert "environments" not in output
    assert pins_of("Development") == [
        ("openai", "", "key-a"),
        ("openai", "gpt-4o", "key-b"),
        ("openai", "my-finetune", "ft-key"),
    ]
    # The workspace pools' pruning leaves the environments' own pools alone.
    assert Pool.objects.filter(workspace=pro, environment__name="Development").count() == 1


def test_prune_deletes_unlisted_environments_pins_and_pools_and_says_keys_are_revoked(
    tmp_path, pro, production, env, openai_url
):
    apply(tmp_path, with_environments(openai_url, ENVIRONMENTS + ENVIRONMENT_POOL))
    staging = environment_create(workspace=pro, name="Staging", acting_user=OPERATOR)
    key = api_key_create(workspace=pro, name="ci", acting_user=None, environment=staging)
    smaller = """\
    environments:
      - name: Production
      - name: Development
        pins:
          - {provider: openai, credential: key-b}
    """

    kept = apply(tmp_path, with_environments(openai_url, smaller))

    assert not [line for line in plan_lines(kept) if line.startswith("delete")]
    assert "update    environments[Development].pins[openai] (key-a → key-b)" in kept

    pruned = apply(tmp_path, with_environments(openai_url, smaller), "--prune")

    deletions = [line for line in plan_lines(pruned) if line.startswith("delete")]
    assert deletions == [
        "delete    environments[Development].load_balancing.openai[gpt-4o-mini (llm)]",
        "delete    environments[Development].pins[openai/gpt-4o (llm)] (was key-b)",
        "delete    environments[Development].pins[openai/my-finetune (llm, custom)] (was ft-key)",
        f"delete    environments[Staging] (revokes API key “ci” ({key.api_key.prefix}…))",
    ]
    assert list(Environment.objects.filter(workspace=pro).values_list("name", flat=True)) == [
        "Production",
        "Development",
    ]
    assert pins_of("Development") == [("openai", "", "key-b")]
    assert not Pool.objects.filter(workspace=pro, environment__isnull=False).exists()
    assert ApiKey.objects.get(pk=key.api_key.pk).revoked_at is not None


def test_prune_refuses_a_file_that_leaves_out_the_default_environment(
    tmp_path, workspace, production, env, openai_url
):
    text = with_environments(openai_url, "environments:\n  - name: Development\n")

    message = apply_fails(tmp_path, text, "--prune")

    assert message.startswith(
        "environments: Production, the default environment, is not listed: --prune would "
        "delete it, and the default environment cannot be deleted"
    )
    assert not Credential.objects.filter(workspace=workspace).exists()
    assert list(Environment.objects.filter(workspace=workspace)) == [production]


def test_the_default_environment_is_renamed_and_opened_by_the_file(
    tmp_path, workspace, production, env, openai_url
):
    text = """\
    environments:
      - name: Live
        default: true
        members_create_keys: false
    """

    output = apply(tmp_path, with_environments(openai_url, text), "--prune")

    assert (
        "update    environments[Live] (renamed from Production; members_create_keys: false)"
        in output
    )
    production.refresh_from_db()
    assert (production.name, production.is_default, production.members_create_keys) == (
        "Live",
        True,
        False,
    )


def test_a_workspace_without_an_environment_row_gets_its_default_from_the_file(
    tmp_path, workspace, env, openai_url
):
    output = apply(tmp_path, with_environments(openai_url))

    assert "create    environments[Production] (the default; members_create_keys: true)" in output
    assert list(
        Environment.objects.filter(workspace=workspace).values_list("name", "is_default")
    ) == [("Production", True), ("Development", False)]


def test_environment_pools_are_applied_like_workspace_pools(
    tmp_path, pro, production, env, openai_url
):
    output = apply(
        tmp_path, with_environments(openai_url, ENVIRONMENTS + ENVIRONMENT_POOL, pools=POOL)
    )

    assert (
        "create    environments[Development].load_balancing.openai[gpt-4o-mini (llm)] "
        "(on: Default Config, key-b)" in output
    )
    workspace_pool = Pool.objects.get(workspace=pro, environment=None)
    development_pool = Pool.objects.get(workspace=pro, environment__name="Development")
    assert workspace_pool.model_name == development_pool.model_name == "gpt-4o-mini"
    assert list(development_pool.entries.values_list("credential__name", flat=True)) == [
        None,
        "key-b",
    ]


def test_an_environment_pool_on_a_plan_without_load_balancing_is_refused(
    tmp_path, workspace, production, env, openai_url
):
    text = with_environments(openai_url, ENVIRONMENTS + ENVIRONMENT_POOL)

    message = apply_fails(tmp_path, text)

    assert message.startswith("environments[Development].load_balancing.openai[gpt-4o-mini (llm)]")
    assert not Credential.objects.filter(workspace=workspace).exists()


def test_export_applied_to_a_fresh_workspace_reproduces_environments(
    tmp_path, pro, pro_plan, production, env, openai_url, fake_providers
):
    apply(tmp_path, with_environments(openai_url, ENVIRONMENTS + ENVIRONMENT_POOL, pools=POOL))
    exported = export(workspace="acme")
    assert "environments:" in exported
    env.setenv("OPENAI_MY_FINETUNE_FT_KEY", FT_KEY)

    same = apply(tmp_path, exported, "--prune")

    assert all(line.startswith("unchanged ") for line in plan_lines(same)), same

    fresh = WorkspaceFactory(slug="fresh", plan=pro_plan)
    default_environment(fresh)
    apply(tmp_path, exported.replace("workspace: acme", "workspace: fresh"))

    assert export(workspace="fresh").replace("fresh", "acme") == exported


def test_the_export_of_a_production_only_workspace_is_as_before_environments(
    tmp_path, pro, pro_plan, production, env, openai_url
):
    """A workspace that only has the Production it was made with exports no `environments:`,
    exactly as the same workspace with no environment row at all (as before issue 24)."""
    text = full_file(openai_url, pools=POOL)
    apply(tmp_path, text)
    bare = WorkspaceFactory(slug="bare", plan=pro_plan)
    apply(tmp_path, text.replace("workspace: acme", "workspace: bare"))
    Environment.objects.filter(workspace=bare).delete()

    exported = export(workspace="acme")

    assert "environments" not in exported
    assert exported == export(workspace="bare").replace("bare", "acme")


def test_pins_and_renamed_defaults_make_the_export_list_environments(
    tmp_path, workspace, production, env, openai_url
):
    apply(tmp_path, full_file(openai_url))
    key_a = Credential.objects.get(workspace=workspace, name="key-a")
    pin_set(environment=production, provider="openai", credential=key_a, acting_user=OPERATOR)

    exported = export(workspace="acme")

    assert exported.endswith(
        "environments:\n"
        "- name: Production\n"
        "  default: true\n"
        "  members_create_keys: true\n"
        "  pins:\n"
        "  - {provider: openai, credential: key-a}\n"
    )
    pin_set(
        environment=production,
        provider="openai",
        credential=None,
        acting_user=OPERATOR,
        ref=None,
    )
    assert "environments" not in export(workspace="acme")
    production.name = "Live"
    production.save()
    assert export(workspace="acme").endswith(
        "environments:\n- {name: Live, default: true, members_create_keys: true}\n"
    )
