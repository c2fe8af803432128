"""Declarative provisioning (`apply_providers`, `export_providers`; provisioning/):
plans, idempotence, all-or-nothing, secrets from the environment only, pruning, pools and the
export round trip. Validation really calls the loopback fake of each provider's API."""

from __future__ import annotations

import textwrap
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from balancing.models import Pool, PoolEntry
from credentials.models import Credential, CustomModel, default_custom_model_features
from system.models import ProviderPreference
from tests.factories import CredentialFactory, WorkspaceFactory
from tests.provisioning.conftest import FT_KEY, KEY_A, KEY_B, SECRETS
from workspaces.models import AuditEntry


def full_file(openai_url: str, *, pools: str = "") -> str:
    return textwrap.dedent(
        f"""\
        workspace: acme
        providers:
          openai:
            preferred: custom
            credentials:
              - name: key-a
                values: {{api_key: "${{OPENAI_KEY_A}}", base_url: "{openai_url}"}}
              - name: key-b
                values: {{api_key: "${{OPENAI_KEY_B}}", base_url: "{openai_url}"}}
            default_credential: key-b
            custom_models:
              - name: my-finetune
                type: llm
                credentials:
                  - name: ft-key
                    values: {{api_key: "${{FT_KEY}}", base_url: "{openai_url}"}}
                default_credential: ft-key
        """
    ) + textwrap.indent(textwrap.dedent(pools), "    ")


POOL = """\
load_balancing:
  - model: gpt-4o-mini
    type: llm
    enabled: true
    entries: [default, key-a, key-b, key-b]
"""


def apply(tmp_path, text: str, *args: str) -> str:
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    out = StringIO()
    call_command("apply_providers", str(path), *args, stdout=out)
    return out.getvalue()


def apply_fails(tmp_path, text: str, *args: str) -> str:
    with pytest.raises(CommandError) as raised:
        apply(tmp_path, text, *args)
    return str(raised.value)


def plan_lines(output: str) -> list[str]:
    actions = ("create ", "update ", "unchanged ", "delete ")
    return [line for line in output.splitlines() if line.startswith(actions)]


def nothing_written(workspace) -> bool:
    return not (
        Credential.objects.filter(workspace=workspace).exists()
        or CustomModel.objects.filter(workspace=workspace).exists()
        or Pool.objects.filter(workspace=workspace).exists()
        or ProviderPreference.objects.filter(workspace=workspace).exists()
        or AuditEntry.objects.filter(workspace=workspace).exists()
    )


def test_apply_creates_credentials_custom_models_defaults_and_preference(
    tmp_path, workspace, env, openai_url, fake_providers
):
    output = apply(tmp_path, full_file(openai_url))

    assert plan_lines(output) == [
        "create    providers.openai.preferred (custom)",
        "create    providers.openai.credentials[key-a]",
        "create    providers.openai.credentials[key-b]",
        "create    providers.openai.default_credential (key-b)",
        "create    providers.openai.custom_models[my-finetune (llm)]",
        "create    providers.openai.custom_models[my-finetune (llm)].credentials[ft-key]",
        "create    providers.openai.custom_models[my-finetune (llm)].default_credential (ft-key)",
    ]
    assert "validated providers.openai.credentials[key-a]" in output
    assert "Applied: 7 created, 0 updated, 0 deleted, 0 unchanged." in output
    assert not any(secret in output for secret in SECRETS.values())

    key_a = Credential.objects.get(workspace=workspace, name="key-a", model_name="")
    assert key_a.secrets == {"api_key": KEY_A}
    assert key_a.config == {"base_url": openai_url}
    assert key_a.masks == {"api_key": "sk-…6789"}
    assert not key_a.is_default
    assert Credential.objects.get(workspace=workspace, name="key-b").is_default
    ft = Credential.objects.get(workspace=workspace, model_name="my-finetune", model_type="llm")
    assert ft.name == "ft-key" and ft.is_default and ft.secrets == {"api_key": FT_KEY}
    assert CustomModel.objects.filter(workspace=workspace, name="my-finetune", type="llm").exists()
    assert ProviderPreference.objects.get(workspace=workspace).preferred == "custom"
    # Each key was checked with the provider, as the UI's validation does.
    sent = {r.headers.get("authorization") for r in fake_providers.requests}
    assert {f"Bearer {KEY_A}", f"Bearer {KEY_B}", f"Bearer {FT_KEY}"} <= sent
    # Every write is audited, by no user, naming the command (the operator).
    entries = AuditEntry.objects.filter(workspace=workspace)
    assert {e.action for e in entries} >= {
        "credential.create",
        "credential.default",
        "model.add",
        "provider.preference",
    }
    assert all(e.actor_id is None for e in entries)
    assert all(e.operator == "manage.py apply_providers" for e in entries)


def test_a_second_apply_of_the_same_file_changes_nothing_and_calls_no_provider(
    tmp_path, workspace, env, openai_url, fake_providers
):
    text = full_file(openai_url)
    apply(tmp_path, text)
    audit_rows = AuditEntry.objects.count()
    fake_providers.reset()

    output = apply(tmp_path, text)

    lines = plan_lines(output)
    assert len(lines) == 7
    assert all(line.startswith("unchanged ") for line in lines)
    assert output.splitlines()[-1] == "Nothing to change."
    assert fake_providers.requests == []
    assert AuditEntry.objects.count() == audit_rows


def test_a_changed_secret_is_validated_and_updated(
    tmp_path, workspace, env, openai_url, fake_providers
):
    text = full_file(openai_url)
    apply(tmp_path, text)
    fake_providers.reset()
    new_key = "sk-test-valid-rotated-000000"
    env.setenv("OPENAI_KEY_A", new_key)

    output = apply(tmp_path, text)

    assert "update    providers.openai.credentials[key-a] (changed: api_key)" in output
    assert "validated providers.openai.credentials[key-a]" in output
    assert "unchanged providers.openai.credentials[key-b]" in output
    assert new_key not in output and KEY_A not in output
    assert [r.headers.get("authorization") for r in fake_providers.requests] == [
        f"Bearer {new_key}"
    ]
    credential = Credential.objects.get(workspace=workspace, name="key-a")
    assert credential.secrets == {"api_key": new_key}
    assert credential.masks == {"api_key": "sk-…0000"}
    update = AuditEntry.objects.get(action="credential.update")
    assert update.details["changed"] == ["api_key"] and update.actor_id is None


def test_one_refused_key_writes_nothing_and_names_the_item(tmp_path, workspace, env, openai_url):
    env.setenv("OPENAI_KEY_B", "sk-test-invalid-000000")

    message = apply_fails(tmp_path, full_file(openai_url))

    assert message.startswith("providers.openai.credentials[key-b]: Authentication failed")
    assert "sk-test-invalid-000000" not in message
    assert nothing_written(workspace)


def test_a_refused_key_leaves_the_existing_configuration_as_it_was(
    tmp_path, workspace, env, openai_url
):
    text = full_file(openai_url)
    apply(tmp_path, text)
    env.setenv("OPENAI_KEY_A", "sk-test-valid-rotated-000000")
    env.setenv("FT_KEY", "sk-test-invalid-111111")
    audit_rows = AuditEntry.objects.count()

    message = apply_fails(tmp_path, text)

    assert "custom_models[my-finetune (llm)].credentials[ft-key]: Authentication failed" in message
    # key-a's new value was valid, but nothing is written when any item fails.
    assert Credential.objects.get(workspace=workspace, name="key-a").secrets == {"api_key": KEY_A}
    assert AuditEntry.objects.count() == audit_rows


def test_a_missing_environment_variable_names_the_item_and_the_variable(
    tmp_path, workspace, env, openai_url, fake_providers
):
    env.delenv("OPENAI_KEY_B")

    message = apply_fails(tmp_path, full_file(openai_url))

    assert message == (
        "providers.openai.credentials[key-b].values.api_key: the environment variable "
        "OPENAI_KEY_B is not set"
    )
    assert nothing_written(workspace)
    assert fake_providers.requests == []


INLINE = """\
workspace: acme
providers:
  openai:
    credentials:
      - name: inline
        values: {{api_key: "sk-test-valid-inline-123456", base_url: "{url}"}}
"""


def test_an_inline_secret_is_refused(tmp_path, workspace, openai_url):
    message = apply_fails(tmp_path, INLINE.format(url=openai_url))

    assert message.startswith("providers.openai.credentials[inline].values.api_key: is a secret")
    assert "sk-test-valid-inline-123456" not in message
    assert nothing_written(workspace)


def test_an_inline_secret_is_accepted_with_the_flag(tmp_path, workspace, openai_url):
    apply(tmp_path, INLINE.format(url=openai_url), "--allow-inline-secrets")

    credential = Credential.objects.get(workspace=workspace, name="inline")
    assert credential.secrets == {"api_key": "sk-test-valid-inline-123456"}
    assert credential.is_default  # the scope's only credential


def test_non_secret_values_may_come_from_the_environment_too(tmp_path, workspace, env, openai_url):
    env.setenv("OPENAI_URL", openai_url)
    text = "workspace: acme\nproviders:\n  openai:\n    credentials:\n      - name: k\n"
    text += '        values: {api_key: "${OPENAI_KEY_A}", base_url: "${OPENAI_URL}"}\n'

    apply(tmp_path, text)

    assert Credential.objects.get(workspace=workspace).config == {"base_url": openai_url}


def test_prune_deletes_what_the_file_does_not_list_and_nothing_is_deleted_without_it(
    tmp_path, pro, env, openai_url
):
    apply(tmp_path, full_file(openai_url, pools=POOL))
    extra = CredentialFactory(workspace=pro, provider="anthropic", name="old-claude")
    smaller = textwrap.dedent(
        f"""\
        workspace: acme
        providers:
          openai:
            credentials:
              - name: key-a
                values: {{api_key: "${{OPENAI_KEY_A}}", base_url: "{openai_url}"}}
        """
    )

    kept = apply(tmp_path, smaller)

    assert "delete" not in kept
    assert "update    providers.openai.default_credential" not in kept  # key-b stays default
    assert Credential.objects.filter(workspace=pro).count() == 4
    assert Pool.objects.filter(workspace=pro).exists()

    pruned = apply(tmp_path, smaller, "--prune")

    assert plan_lines(pruned) == [
        "unchanged providers.openai.credentials[key-a]",
        "update    providers.openai.default_credential (key-a)",
        "delete    providers.anthropic.credentials[old-claude]",
        "delete    providers.openai.credentials[key-b]",
        "delete    providers.openai.custom_models[my-finetune (llm)]",
        "delete    providers.openai.custom_models[my-finetune (llm)].credentials[ft-key]",
        "delete    providers.openai.load_balancing[gpt-4o-mini (llm)]",
    ]
    assert list(Credential.objects.filter(workspace=pro).values_list("name", "is_default")) == [
        ("key-a", True)
    ]
    assert not Credential.objects.filter(pk=extra.pk).exists()
    assert not CustomModel.objects.filter(workspace=pro).exists()
    assert not Pool.objects.filter(workspace=pro).exists()
    deleted = AuditEntry.objects.filter(action="credential.delete", actor=None)
    assert deleted.count() == 3
    assert not AuditEntry.objects.filter(action="pool.stopped").exists()


def test_dry_run_prints_the_plan_and_neither_writes_nor_calls_a_provider(
    tmp_path, workspace, env, openai_url, fake_providers
):
    output = apply(tmp_path, full_file(openai_url), "--dry-run")

    assert len(plan_lines(output)) == 7
    assert all(line.startswith("create ") for line in plan_lines(output))
    assert "Dry run: 7 to create, 0 to update, 0 to delete, 0 unchanged." in output
    assert nothing_written(workspace)
    assert fake_providers.requests == []


def test_dry_run_still_checks_the_file_and_the_environment(tmp_path, workspace, env, openai_url):
    env.delenv("FT_KEY")

    message = apply_fails(tmp_path, full_file(openai_url), "--dry-run")

    assert "ft-key].values.api_key: the environment variable FT_KEY is not set" in message


def test_a_pool_gets_exactly_the_listed_entries_in_order_with_repeats(
    tmp_path, pro, env, openai_url
):
    output = apply(tmp_path, full_file(openai_url, pools=POOL))

    assert (
        "create    providers.openai.load_balancing[gpt-4o-mini (llm)] "
        "(on: Default Config, key-a, key-b, key-b)"
    ) in output
    pool = Pool.objects.get(workspace=pro, model_name="gpt-4o-mini", model_type="llm")
    assert pool.enabled and not pool.custom
    entries = list(pool.entries.values_list("position", "credential__name", "enabled"))
    assert entries == [(0, None, True), (1, "key-a", True), (2, "key-b", True), (3, "key-b", True)]

    reordered = POOL.replace("[default, key-a, key-b, key-b]", "[key-b, key-a]").replace(
        "enabled: true", "enabled: false"
    )
    output = apply(tmp_path, full_file(openai_url, pools=reordered))

    assert "update    providers.openai.load_balancing[gpt-4o-mini (llm)] (off: key-b, key-a)" in (
        output
    )
    pool.refresh_from_db()
    assert not pool.enabled
    assert list(pool.entries.values_list("credential__name", flat=True)) == ["key-b", "key-a"]
    assert AuditEntry.objects.filter(action="pool.update", actor=None).exists()


def test_a_custom_models_pool_and_disabled_entries(tmp_path, pro, env, openai_url):
    pools = """\
    load_balancing:
      - model: my-finetune
        type: llm
        custom: true
        enabled: true
        entries: [ft-key, default, {credential: ft-key, enabled: false}, ft-key]
    """
    apply(tmp_path, full_file(openai_url, pools=pools))

    pool = Pool.objects.get(workspace=pro, custom=True)
    assert list(pool.entries.values_list("credential__name", "enabled")) == [
        ("ft-key", True),
        (None, True),
        ("ft-key", False),
        ("ft-key", True),
    ]
    assert all(
        line.startswith("unchanged ")
        for line in plan_lines(apply(tmp_path, full_file(openai_url, pools=pools)))
    )


def test_load_balancing_is_refused_on_a_plan_without_it(tmp_path, workspace, env, openai_url):
    message = apply_fails(tmp_path, full_file(openai_url, pools=POOL))

    assert message.startswith(
        "providers.openai.load_balancing[gpt-4o-mini (llm)]: Load balancing is a paid-plan feature"
    )
    assert nothing_written(workspace)


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        (
            POOL.replace("[default, key-a, key-b, key-b]", "[key-a]"),
            "providers.openai.load_balancing[gpt-4o-mini (llm)]: load balancing needs at least "
            "2 enabled entries; this pool lists 1",
        ),
        (
            POOL.replace("key-b, key-b]", "key-c]"),
            "providers.openai.load_balancing[gpt-4o-mini (llm)].entries[2]: no credential named "
            "'key-c' in providers.openai.credentials",
        ),
        (
            POOL.replace("gpt-4o-mini", "gpt-9"),
            "providers.openai.load_balancing[gpt-9 (llm)]: openai/gpt-9 is not a predefined llm "
            "model here.",
        ),
        (
            POOL.replace("type: llm", "type: hologram"),
            "providers.openai.load_balancing[0].type: OpenAI does not offer 'hologram' models",
        ),
    ],
)
def test_bad_pools_are_refused_with_the_item_and_nothing_is_written(
    tmp_path, pro, env, openai_url, pools, expected
):
    message = apply_fails(tmp_path, full_file(openai_url, pools=pools))

    assert message.startswith(expected)
    assert nothing_written(pro)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    preferred: custom",
            "    preferred: custom\n    colour: red",
            (
                "providers.openai.colour: unknown key (allowed here: credentials, custom_models, "
                "default_credential, load_balancing, preferred)"
            ),
        ),
        ("  openai:\n", "  openia:\n", "providers.openia: unknown provider (the catalog has:"),
        (
            "base_url:",
            "base_uri:",
            (
                "providers.openai.credentials[key-a].values.base_uri: is not a field of this "
                "provider's schema (fields: api_key, base_url, organization)"
            ),
        ),
        (
            "type: llm",
            "type: hologram",
            ("providers.openai.custom_models[0].type: OpenAI does not offer 'hologram' models"),
        ),
        (
            "default_credential: key-b",
            "default_credential: key-z",
            (
                "providers.openai.default_credential: 'key-z' is not one of the credentials listed "
                "here"
            ),
        ),
        (
            "preferred: custom",
            "preferred: mine",
            ("providers.openai.preferred: must be one of system, custom"),
        ),
        ("- name: key-b", "- name: key-a", "providers.openai.credentials[key-a]: is listed twice"),
        (
            "workspace: acme",
            "workspace: nowhere",
            "workspace: no workspace with the slug 'nowhere'",
        ),
        (
            '"${OPENAI_KEY_A}", base_url: "http',
            '"${OPENAI_KEY_A}", base_url: "ftp',
            "providers.openai.credentials[key-a].values.base_url: Enter a full URL",
        ),
        (
            "preferred: custom",
            "preferred: custom\n    preferred: system",
            ("line 5, column 5: not valid YAML: the key 'preferred' is given twice"),
        ),
    ],
)
def test_mistakes_in_the_file_are_named_and_nothing_is_written(
    tmp_path, workspace, env, openai_url, old, new, expected
):
    text = full_file(openai_url)
    assert old in text
    message = apply_fails(tmp_path, text.replace(old, new, 1))

    assert message.startswith(expected)
    assert nothing_written(workspace)


def test_a_custom_model_needs_a_credential(tmp_path, workspace, env):
    text = "workspace: acme\nproviders:\n  openai:\n    custom_models:\n"
    text += "      - {name: my-finetune, type: llm}\n"

    message = apply_fails(tmp_path, text)

    assert message == (
        "providers.openai.custom_models[my-finetune (llm)].credentials: a custom model needs at "
        "least one credential"
    )


def export(**options) -> str:
    out = StringIO()
    call_command("export_providers", stdout=out, **options)
    return out.getvalue()


def test_export_then_apply_on_the_same_workspace_is_all_unchanged(
    tmp_path, pro, env, openai_url, fake_providers
):
    pools = POOL + (
        "  - {model: my-finetune, type: llm, custom: true, enabled: false,\n"
        "     entries: [{credential: ft-key, enabled: false}]}\n"
    )
    apply(tmp_path, full_file(openai_url, pools=pools))

    exported = export(workspace="acme")

    assert not any(secret in exported for secret in SECRETS.values())
    assert "sk-" not in exported
    for name in ("OPENAI_KEY_A", "OPENAI_KEY_B", "OPENAI_MY_FINETUNE_FT_KEY"):
        assert f"${{{name}}}" in exported
    env.setenv("OPENAI_MY_FINETUNE_FT_KEY", FT_KEY)
    fake_providers.reset()

    output = apply(tmp_path, exported, "--prune")

    lines = plan_lines(output)
    assert len(lines) == 9
    assert all(line.startswith("unchanged ") for line in lines), output
    assert fake_providers.requests == []


def test_an_export_applied_to_a_fresh_workspace_reproduces_the_configuration(
    tmp_path, pro, pro_plan, env, openai_url
):
    apply(tmp_path, full_file(openai_url, pools=POOL))
    fresh = WorkspaceFactory(slug="fresh", plan=pro_plan)
    output_file = tmp_path / "exported.yaml"
    export(workspace="acme", output=str(output_file))
    env.setenv("OPENAI_MY_FINETUNE_FT_KEY", FT_KEY)

    applied = apply(
        tmp_path, output_file.read_text().replace("workspace: acme", "workspace: fresh")
    )

    assert all(line.startswith("create ") for line in plan_lines(applied))
    assert export(workspace="fresh").replace("fresh", "acme") == output_file.read_text()
    credential = Credential.objects.get(workspace=fresh, name="key-a")
    assert credential.secrets == {"api_key": KEY_A}
    assert list(
        PoolEntry.objects.filter(pool__workspace=fresh).values_list("credential__name", flat=True)
    ) == [None, "key-a", "key-b", "key-b"]


def test_export_of_an_unknown_workspace_fails(db):
    with pytest.raises(CommandError, match="No workspace with the slug 'nope'"):
        export(workspace="nope")


def test_a_change_made_while_keys_are_validated_stops_the_apply(
    tmp_path, workspace, env, openai_url, monkeypatch
):
    """Providers are called outside the transaction; the plan is worked out again under locks
    and a workspace edited meanwhile (here: someone adds key-b in the UI) gets nothing."""
    from provisioning import planner

    real_validate = planner._validate

    def validate_while_someone_edits(spec):
        if not Credential.objects.filter(workspace=workspace, name="key-b").exists():
            CredentialFactory(workspace=workspace, name="key-b")
        return real_validate(spec)

    monkeypatch.setattr(planner, "_validate", validate_while_someone_edits)

    message = apply_fails(tmp_path, full_file(openai_url))

    assert message.startswith("The workspace changed while the credentials were being validated")
    assert list(Credential.objects.filter(workspace=workspace).values_list("name", flat=True)) == [
        "key-b"
    ]
    assert not CustomModel.objects.filter(workspace=workspace).exists()


def test_a_file_that_repoints_a_credential_must_give_its_secret_again(
    tmp_path, workspace, env, fake_providers, elsewhere
):
    """`openai_compatible` keys are optional, so a file could leave one out; a change of
    address then refuses rather than silently dropping (or sending) the stored key."""
    stored = "sk-test-valid-compat-0123456789"
    env.setenv("COMPAT_KEY", stored)
    here = fake_providers.base_url("openai")
    first = textwrap.dedent(
        f"""\
        workspace: acme
        providers:
          openai_compatible:
            credentials:
              - name: compat
                values: {{api_key: "${{COMPAT_KEY}}", base_url: "{here}"}}
        """
    )
    apply(tmp_path, first)
    moved = textwrap.dedent(
        f"""\
        workspace: acme
        providers:
          openai_compatible:
            credentials:
              - name: compat
                values: {{base_url: "{elsewhere.base_url("openai")}"}}
        """
    )
    message = apply_fails(tmp_path, moved)
    assert "providers.openai_compatible.credentials[compat]" in message
    assert "API Base URL changed: give the API Key again" in message
    assert not any(stored in str(r.headers) for r in elsewhere.requests)
    credential = Credential.objects.get(workspace=workspace, name="compat")
    assert credential.secrets == {"api_key": stored}
    assert credential.config["base_url"] == fake_providers.base_url("openai")


def test_the_audit_log_names_the_command_that_applied_the_file(
    tmp_path, workspace, members, env, openai_url, client_for
):
    apply(tmp_path, full_file(openai_url))

    html = client_for("owner").get("/settings/audit-log/").content.decode()

    assert html.count("operator: manage.py apply_providers") == AuditEntry.objects.count()
    assert "Added credential " in html and "the default credential" in html
    assert "credential.create" not in html  # sentences, not action codes


def test_a_custom_model_without_features_gets_its_types_defaults(
    tmp_path, workspace, env, openai_url
):
    apply(tmp_path, full_file(openai_url))

    model = CustomModel.objects.get(workspace=workspace, name="my-finetune")
    assert model.features == list(default_custom_model_features("llm"))


def test_a_custom_models_features_are_applied_updated_and_exported(
    tmp_path, workspace, env, openai_url, fake_providers
):
    text = full_file(openai_url).replace(
        "        type: llm\n",
        "        type: llm\n        features: [streaming, tool-call]\n",
        1,
    )
    apply(tmp_path, text)
    model = CustomModel.objects.get(workspace=workspace, name="my-finetune")
    assert model.features == ["tool-call", "streaming"]  # the catalog's order

    output = apply(tmp_path, text.replace("[streaming, tool-call]", "[vision]"))

    assert "update    providers.openai.custom_models[my-finetune (llm)] (features: vision)" in (
        plan_lines(output)
    )
    model.refresh_from_db()
    assert model.features == ["vision"]
    assert AuditEntry.objects.filter(workspace=workspace, action="model.features").count() == 1
    exported = export(workspace="acme")
    assert "features: [vision]" in exported, exported
    # A file that leaves features out leaves them as they are.
    fake_providers.reset()
    assert all(
        line.startswith("unchanged ")
        for line in plan_lines(
            apply(tmp_path, text.replace("        features: [streaming, tool-call]\n", ""))
        )
    )


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ("[telepathy]", "features[0]: 'telepathy' is not a feature"),
        ("vision", "features: must be a list, not text"),
    ],
)
def test_an_unknown_feature_is_named_and_nothing_is_written(
    tmp_path, workspace, env, openai_url, features, expected
):
    text = full_file(openai_url).replace(
        "        type: llm\n",
        f"        type: llm\n        features: {features}\n",
        1,
    )

    message = apply_fails(tmp_path, text)

    assert message.startswith("providers.openai.custom_models[my-finetune (llm)]." + expected)
    assert nothing_written(workspace)
