"""Configuring pools: entries, the two-entry rule, the switch, plan gating, credential deletion
and re-validation, through the services and through the pages (HTMX posts, as the page sends)."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from balancing.models import Pool, PoolEntry
from balancing.services import (
    ModelRef,
    pool_entry_add,
    pool_entry_move,
    pool_entry_remove,
    pool_entry_set_enabled,
    pool_set_enabled,
)
from credentials.models import Credential
from credentials.services import credential_delete, credential_set_default
from tests.factories import CredentialFactory, CustomModelFactory
from workspaces.exceptions import ApplicationError, NotAllowed
from workspaces.models import AuditEntry

GPT = ModelRef("openai", "gpt-4o", "llm")
HX = {"HX-Request": "true"}


@pytest.fixture
def paid(workspace, pro_plan):
    workspace.plan = pro_plan
    workspace.save()
    return workspace


@pytest.fixture
def owner(members):
    return members["owner"].user


@pytest.fixture
def keys(paid):
    """Three provider credentials of the workspace; the first is the default."""
    return [
        CredentialFactory(workspace=paid, name=f"key-{c}", is_default=(c == "a")) for c in "abc"
    ]


def entries_of(ref: ModelRef = GPT) -> list[str]:
    pool = Pool.objects.get(provider=ref.provider, model_name=ref.name, custom=ref.custom)
    return [str(entry) + ("" if entry.enabled else " (off)") for entry in pool.entries.all()]


def pool_of(ref: ModelRef = GPT) -> Pool:
    return Pool.objects.get(provider=ref.provider, model_name=ref.name, custom=ref.custom)


def add(workspace, owner, credential, ref=GPT):
    return pool_entry_add(workspace=workspace, ref=ref, credential=credential, acting_user=owner)


# -- entries and the switch ----------------------------------------------------------------------


def test_a_new_pool_starts_with_the_default_config_and_repeats_credentials(paid, owner, keys):
    add(paid, owner, keys[1])
    add(paid, owner, keys[1])
    add(paid, owner, keys[2])
    assert entries_of() == ["Default Config", "key-b", "key-b", "key-c"]


def test_turning_on_needs_two_enabled_entries(paid, owner, keys):
    with pytest.raises(ApplicationError, match="at least two enabled entries"):
        pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    add(paid, owner, keys[1])  # Default Config + key-b
    entry = pool_of().entries.get(credential=keys[1])
    pool_entry_set_enabled(entry=entry, enabled=False, acting_user=owner)
    with pytest.raises(ApplicationError, match="has 1 enabled entry"):
        pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    assert not pool_of().enabled
    pool_entry_set_enabled(entry=entry, enabled=True, acting_user=owner)
    pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    assert pool_of().enabled


def test_while_on_no_change_may_leave_fewer_than_two_enabled_entries(paid, owner, keys):
    add(paid, owner, keys[1])
    pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    entry = pool_of().entries.get(credential=keys[1])
    with pytest.raises(ApplicationError, match="turn it off first"):
        pool_entry_set_enabled(entry=entry, enabled=False, acting_user=owner)
    with pytest.raises(ApplicationError, match="turn it off first"):
        pool_entry_remove(entry=entry, acting_user=owner)
    assert entries_of() == ["Default Config", "key-b"]


def test_turning_off_keeps_the_pool_for_later(paid, owner, keys):
    add(paid, owner, keys[1])
    add(paid, owner, keys[2])
    pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    pool_set_enabled(workspace=paid, ref=GPT, enabled=False, acting_user=owner)
    assert not pool_of().enabled
    assert entries_of() == ["Default Config", "key-b", "key-c"]
    pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    assert pool_of().enabled
    actions = list(AuditEntry.objects.filter(action__startswith="pool.").values_list("action"))
    assert ("pool.disable",) in actions and ("pool.enable",) in actions


def test_entries_move_up_and_down_and_can_be_removed(paid, owner, keys):
    for key in keys[1:]:
        add(paid, owner, key)
    last = pool_of().entries.get(credential=keys[2])
    pool_entry_move(entry=last, offset=-1, acting_user=owner)
    assert entries_of() == ["Default Config", "key-c", "key-b"]
    pool_entry_move(entry=last, offset=-1, acting_user=owner)
    pool_entry_move(entry=last, offset=-1, acting_user=owner)  # already first: no change
    assert entries_of() == ["key-c", "Default Config", "key-b"]
    pool_entry_remove(entry=pool_of().entries.get(credential=None), acting_user=owner)
    assert entries_of() == ["key-c", "key-b"]
    assert list(pool_of().entries.values_list("position", flat=True)) == [0, 1]


def test_a_credential_of_another_scope_cannot_join(paid, owner, keys, other_workspace):
    CustomModelFactory(workspace=paid, name="ft")
    custom_key = CredentialFactory(workspace=paid, model_name="ft", model_type="llm")
    foreign = CredentialFactory(workspace=other_workspace["workspace"])
    for credential in (custom_key, foreign):
        with pytest.raises(ApplicationError, match="cannot serve this model"):
            add(paid, owner, credential)
    with pytest.raises(ApplicationError, match="cannot serve this model"):
        add(paid, owner, keys[0], ref=ModelRef("openai", "ft", "llm", custom=True))
    add(paid, owner, custom_key, ref=ModelRef("openai", "ft", "llm", custom=True))
    assert entries_of(ModelRef("openai", "ft", "llm", True)) == ["Default Config", custom_key.name]


def test_a_model_that_does_not_exist_has_no_pool(paid, owner, keys):
    for ref in (ModelRef("openai", "gpt-9", "llm"), ModelRef("openai", "nope", "llm", True)):
        with pytest.raises(ApplicationError, match="is not a"):
            add(paid, owner, keys[0], ref=ref)
    assert not Pool.objects.exists()


def test_editors_and_members_cannot_change_pools(paid, members, keys):
    for role in ("editor", "member"):
        with pytest.raises(NotAllowed):
            add(paid, members[role].user, keys[1])
    assert not Pool.objects.exists()


# -- plans ---------------------------------------------------------------------------------------


def test_the_free_plan_refuses_load_balancing_with_the_reason(workspace, owner):
    key = CredentialFactory(workspace=workspace)
    with pytest.raises(NotAllowed, match="paid-plan feature .* Free plan"):
        add(workspace, owner, key)
    with pytest.raises(NotAllowed, match="paid-plan feature"):
        pool_set_enabled(workspace=workspace, ref=GPT, enabled=True, acting_user=owner)
    assert not Pool.objects.exists()


def test_a_setting_enables_load_balancing_on_every_plan(workspace, owner, settings):
    settings.LOAD_BALANCING_ALL_PLANS = True
    key = CredentialFactory(workspace=workspace, is_default=True)
    add(workspace, owner, key)
    pool_set_enabled(workspace=workspace, ref=GPT, enabled=True, acting_user=owner)
    assert pool_of().enabled


def test_the_free_plan_shows_the_controls_disabled_with_the_reason(workspace, client_for):
    CredentialFactory(workspace=workspace, is_default=True)
    page = client_for("owner").get(reverse("pool-detail", args=["openai"]) + "?" + GPT.query)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Load balancing is a paid-plan feature and this workspace is on the Free plan" in html
    assert 'disabled aria-describedby="switch-why">' in html  # Turn on and Add credential
    assert reverse("pool-entry-create", args=["openai"]) not in html


def test_seed_demo_puts_the_demo_workspace_on_a_paid_plan(db):
    from django.core.management import call_command

    from workspaces.models import Workspace

    call_command("seed_demo", password="demo-password-1", stdout=io.StringIO())
    demo = Workspace.objects.get(slug="demo")
    assert demo.load_balancing_allowed and demo.plan.slug == "pro"


# -- credentials leaving and coming back ---------------------------------------------------------


def test_deleting_a_credential_removes_its_entries_and_stops_a_pool_left_too_small(
    paid, owner, keys, client_for
):
    add(paid, owner, keys[1])
    add(paid, owner, keys[1])
    pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    deleted = credential_delete(credential=keys[1], acting_user=owner)
    assert deleted.pools_stopped == ("openai/gpt-4o",)
    pool = pool_of()
    assert not pool.enabled
    assert entries_of() == ["Default Config"]
    assert "“key-b” was deleted" in pool.warning
    client = client_for("owner")
    providers_page = client.get(reverse("provider-list")).content.decode()
    assert "Load balancing stopped on 1 model" in providers_page
    model_page = client.get(reverse("provider-detail", args=["openai"])).content.decode()
    assert "Load balancing stopped: the credential “key-b” was deleted" in model_page


def test_deleting_a_credential_keeps_balancing_when_two_entries_remain(paid, owner, keys):
    for key in (keys[1], keys[2], keys[2]):
        add(paid, owner, key)
    pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    assert credential_delete(credential=keys[1], acting_user=owner).pools_stopped == ()
    assert pool_of().enabled and not pool_of().warning
    assert entries_of() == ["Default Config", "key-c", "key-c"]


def test_the_delete_confirmation_says_the_pool_will_stop(paid, owner, keys, client_for):
    add(paid, owner, keys[1])
    pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    url = reverse("credential-delete", args=["openai", keys[1].pk])
    html = client_for("admin").get(url, headers=HX).content.decode()
    assert "1 entry of the load-balancing pool of" in html
    assert "Load balancing on gpt-4o will stop" in html


def test_turning_on_again_clears_the_warning(paid, owner, keys):
    add(paid, owner, keys[1])
    pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    credential_delete(credential=keys[1], acting_user=owner)
    add(paid, owner, keys[2])
    pool_set_enabled(workspace=paid, ref=GPT, enabled=True, acting_user=owner)
    assert pool_of().enabled and pool_of().warning == ""


def test_default_config_follows_the_default_credential(paid, owner, keys, client_for):
    add(paid, owner, keys[1])
    url = reverse("pool-detail", args=["openai"]) + "?" + GPT.query
    assert "now key-a" in client_for("member").get(url).content.decode()
    credential_set_default(credential=keys[2], acting_user=owner)
    html = client_for("member").get(url).content.decode()
    assert "now key-c" in html


# -- the pages -----------------------------------------------------------------------------------


def pool_post(client, name, data, *args):
    return client.post(reverse(name, args=["openai", *args]), data, headers=HX)


def test_an_admin_builds_and_turns_on_a_pool_from_the_page(paid, keys, client_for):
    client = client_for("admin")
    ref = {"model": "gpt-4o", "type": "llm"}
    response = client.post(
        reverse("pool-entry-create", args=["openai"]) + "?" + GPT.query,
        {"entry": str(keys[1].pk), "count": "2"},
        headers=HX,
    )
    assert response.status_code == 204
    assert "poolChanged" in response["HX-Trigger"]
    assert entries_of() == ["Default Config", "key-b", "key-b"]
    response = pool_post(client, "pool-switch", {**ref, "enabled": "true"})
    assert response.status_code == 204 and "Load balancing is on" in response["HX-Trigger"]
    page = client.get(reverse("pool-detail", args=["openai"]) + "?" + GPT.query)
    html = page.content.decode()
    assert "33.3 %" in html and "66.7 %" in html  # key-a via Default Config, key-b twice
    models = client.get(reverse("provider-detail", args=["openai"])).content.decode()
    assert models.count('aria-label="Load balancing on"') == 1  # on gpt-4o's row only


def test_the_page_refuses_turning_on_with_one_entry_and_says_why(paid, keys, client_for):
    client = client_for("admin")
    response = pool_post(
        client, "pool-switch", {"model": "gpt-4o", "type": "llm", "enabled": "true"}
    )
    assert response.status_code == 204
    assert "at least two enabled entries" in response["HX-Trigger"]
    assert not Pool.objects.filter(enabled=True).exists()


def test_entry_buttons_enable_disable_move_and_remove(paid, owner, keys, client_for):
    add(paid, owner, keys[1])
    add(paid, owner, keys[2])
    client = client_for("admin")
    entry = pool_of().entries.get(credential=keys[2])
    pool_post(client, "pool-entry-update", {"enabled": "false"}, entry.pk)
    assert entries_of() == ["Default Config", "key-b", "key-c (off)"]
    pool_post(client, "pool-entry-update", {"move": "up"}, entry.pk)
    assert entries_of() == ["Default Config", "key-c (off)", "key-b"]
    pool_post(client, "pool-entry-delete", {}, entry.pk)
    assert entries_of() == ["Default Config", "key-b"]


def test_members_see_the_pool_read_only(paid, owner, keys, client_for):
    add(paid, owner, keys[1])
    html = (
        client_for("member")
        .get(reverse("pool-detail", args=["openai"]) + "?" + GPT.query)
        .content.decode()
    )
    assert "Default Config" in html and "key-b" in html
    assert "Turn on" not in html and "Remove" not in html and "Add credential" not in html
    entry = pool_of().entries.last()
    response = pool_post(client_for("member"), "pool-entry-delete", {}, entry.pk)
    assert response.status_code == 403
    assert entries_of() == ["Default Config", "key-b"]


def test_an_unknown_model_answers_404(paid, client_for):
    url = reverse("pool-detail", args=["openai"])
    assert client_for("member").get(url + "?model=gpt-9&type=llm").status_code == 404
    assert client_for("member").get(url).status_code == 404


def test_add_credential_offers_the_scope_credentials_and_a_new_one(paid, owner, keys, client_for):
    CustomModelFactory(workspace=paid, name="ft")
    CredentialFactory(workspace=paid, model_name="ft", model_type="llm", name="ft-key")
    url = reverse("pool-entry-create", args=["openai"]) + "?" + GPT.query
    html = client_for("admin").get(url, headers=HX).content.decode()
    assert "Default Config (whatever the default is: key-a)" in html
    assert all(f"key-{c}" in html for c in "abc") and "ft-key" not in html
    assert "lb_model=gpt-4o" in html  # "add a new credential" joins this pool once saved


def test_a_new_credential_added_from_the_pool_joins_it_once_validated(
    paid, client_for, fake_providers
):
    client = client_for("admin")
    url = reverse("credential-create", args=["openai"]) + "?lb_model=gpt-4o&lb_type=llm"
    base_url = fake_providers.base_url("openai")
    bad = client.post(
        url, {"name": "new-key", "api_key": "sk-invalid-1", "base_url": base_url}, headers=HX
    )
    assert "Authentication failed" in bad.content.decode()
    assert not Pool.objects.exists()
    ok = client.post(
        url, {"name": "new-key", "api_key": "sk-test-valid-1", "base_url": base_url}, headers=HX
    )
    assert ok.status_code in (200, 286)
    assert entries_of() == ["Default Config", "new-key"]


def test_a_credential_that_validates_again_returns_to_rotation(
    paid, owner, keys, fake_providers, django_capture_on_commit_callbacks
):
    from balancing.routing import FAILING, IN_ROTATION
    from balancing.runtime import get_router
    from credentials.services import validation_check_request
    from upstream.errors import AuthenticationFailed

    add(paid, owner, keys[1])
    key = pool_of().key
    Credential.objects.filter(pk=keys[1].pk).update(
        config={"base_url": fake_providers.base_url("openai")}, status="failing"
    )
    get_router().report_failure(key, str(keys[1].pk), AuthenticationFailed())
    assert get_router().state(key, [str(keys[1].pk)])[str(keys[1].pk)].state == FAILING
    with django_capture_on_commit_callbacks(execute=True):
        validation_check_request(
            credential=Credential.objects.get(pk=keys[1].pk), acting_user=owner
        )
    assert Credential.objects.get(pk=keys[1].pk).status == "active"
    assert get_router().state(key, [str(keys[1].pk)])[str(keys[1].pk)].state == IN_ROTATION


def test_pool_entries_of_another_workspace_answer_404(
    paid, owner, keys, client_for, other_workspace
):
    add(paid, owner, keys[1])
    entry = PoolEntry.objects.last()
    client = client_for("admin")
    client.force_login(other_workspace["owner"].user)
    assert pool_post(client, "pool-entry-delete", {}, entry.pk).status_code == 404
    assert PoolEntry.objects.filter(pk=entry.pk).exists()


def test_a_model_name_with_query_characters_cannot_retarget_the_new_credential_link(
    paid, client_for
):
    """A custom model may be named `x&lb_custom=1&type=tts`; the pool's "add a new credential"
    link must still name that model and type, not the parameters smuggled in its name."""
    from html import unescape
    from urllib.parse import parse_qs, urlsplit

    name = "x&lb_custom=1&type=tts"
    CustomModelFactory(workspace=paid, name=name)
    ref = ModelRef("openai", name, "llm", custom=True)
    url = reverse("pool-entry-create", args=["openai"]) + "?" + ref.query
    html = client_for("admin").get(url, headers=HX).content.decode()
    href = unescape(html.split('Or <a href="')[1].split('"')[0])
    assert parse_qs(urlsplit(href).query) == {
        "lb_model": [name],
        "lb_type": ["llm"],
        "lb_custom": ["1"],
        "model": [name],
        "type": ["llm"],
    }
    form = client_for("admin").get(href, headers=HX).content.decode()
    assert 'value="x&amp;lb_custom=1&amp;type=tts"' in form  # the model name, whole


# -- a new credential joining from the pool's Add credential -------------------------------------


def fill_pool(workspace, owner, credential, upto: int) -> None:
    """Default Config plus `credential` repeated until the pool holds `upto` entries."""
    for _ in range(upto - 1):
        add(workspace, owner, credential)


def test_a_new_credential_joining_from_the_pool_is_audited_like_an_added_entry(
    paid, client_for, fake_providers
):
    url = reverse("credential-create", args=["openai"]) + "?lb_model=gpt-4o&lb_type=llm"
    base_url = fake_providers.base_url("openai")
    client_for("admin").post(
        url, {"name": "new-key", "api_key": "sk-test-valid-1", "base_url": base_url}, headers=HX
    )

    assert entries_of() == ["Default Config", "new-key"]
    joined = AuditEntry.objects.get(action="pool.entry_add")
    assert joined.actor_email == "admin@acme.test"
    assert joined.object_repr == "openai/gpt-4o"


def test_a_new_credential_cannot_join_a_full_pool_from_the_page(
    paid, owner, keys, client_for, fake_providers
):
    from balancing.models import MAX_ENTRIES

    fill_pool(paid, owner, keys[1], MAX_ENTRIES)
    url = reverse("credential-create", args=["openai"]) + "?lb_model=gpt-4o&lb_type=llm"
    base_url = fake_providers.base_url("openai")
    response = client_for("admin").post(
        url, {"name": "new-key", "api_key": "sk-test-valid-1", "base_url": base_url}, headers=HX
    )

    assert f"A pool holds at most {MAX_ENTRIES} entries" in response.content.decode()
    assert pool_of().entries.count() == MAX_ENTRIES
    assert not Credential.objects.filter(name="new-key").exists()


def test_a_pool_filled_while_a_new_credential_was_validated_is_not_pushed_past_its_cap(
    paid, owner, keys, fake_providers, queued_only
):
    from balancing.models import MAX_ENTRIES
    from credentials.models import PendingValidation
    from credentials.services import pending_validation_run, validation_request_create

    fill_pool(paid, owner, keys[1], MAX_ENTRIES - 1)
    pending = validation_request_create(
        workspace=paid,
        provider_key="openai",
        acting_user=owner,
        values={"api_key": "sk-test-valid-1", "base_url": fake_providers.base_url("openai")},
        name="new-key",
        add_to_pool={"model": "gpt-4o", "type": "llm"},
    )
    add(paid, owner, keys[2])  # the last free place goes meanwhile

    pending_validation_run(pending_id=str(pending.pk))

    pending = PendingValidation.objects.get(pk=pending.pk)
    assert pending.status == "failed"
    assert f"A pool holds at most {MAX_ENTRIES} entries" in pending.error_message
    assert pool_of().entries.count() == MAX_ENTRIES
    assert not Credential.objects.filter(name="new-key").exists()
