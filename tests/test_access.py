"""Every URL declares who may call it, and the server enforces it for every role.

The sweep walks the URL resolver: a new view without an access policy, or with a URL parameter
this file does not know how to fill, fails here until it is classified.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from workspaces.models import Role

# URL parameter → how to fill it for the sweep: a real object of the workspace under test,
# chosen by the URL name's family for `pk`.
PK_BY_FAMILY = {
    "member": lambda objects: objects["membership"].pk,
    "credential": lambda objects: objects["credential"].pk,
    "validation": lambda objects: objects["pending"].pk,
    "custom": lambda objects: objects["custom_model"].pk,
    "model": lambda objects: objects["refresh"].pk,
    "pool": lambda objects: objects["pool_entry"].pk,
    "api": lambda objects: objects["api_key"].pk,
    "invitation": lambda objects: objects["invitation"].pk,
    "environment": lambda objects: objects["environment"].pk,
}
SAMPLE_KWARGS = {
    "provider_key": lambda objects: "openai",
    "token": lambda objects: "not-a-token",
    "path": lambda objects: "nothing-here",
}

# Who may call each URL: the table a reviewer reads. A URL missing here fails the sweep, and a
# view whose behaviour drifts from its row fails it too.
EXPECTED = {
    "home": "login",
    "login": "public",
    "logout": "public",
    "invitation-open": "public",  # the emailed link; only its signed token lets anyone in
    "invitation-accept": "public",
    "invitation-resend": "admin",
    "invitation-delete": "admin",
    "healthz": "public",
    "workspace-create": "login",
    "workspace-switch": "login",
    "workspace-update": "member",  # reading; renaming (POST) needs admin, see POST_NEEDS
    "workspace-leave": "member",
    "workspace-transfer": "owner",
    "member-list": "member",
    "member-create": "admin",
    "member-update": "admin",
    "member-delete": "admin",
    "provider-list": "member",
    "provider-detail": "member",
    "credential-list": "member",
    "credential-create": "admin",
    "credential-update": "admin",
    "credential-delete": "admin",
    "credential-default": "admin",
    "credential-check": "admin",
    "credential-check-all": "admin",
    "validation-detail": "admin",
    "audit-log": "admin",
    "custom-model-create": "admin",
    "custom-model-readd": "admin",
    "custom-model-detail": "member",
    "custom-model-delete": "admin",
    "custom-model-update": "admin",
    "custom-credential-list": "member",
    "model-toggle": "admin",
    "model-refresh": "admin",
    "model-refresh-detail": "admin",
    "provider-preference": "admin",
    "pool-detail": "member",  # read-only for members; every change below needs admin
    "pool-state": "admin",
    "pool-switch": "admin",
    "pool-entry-create": "admin",
    "pool-entry-update": "admin",
    "pool-entry-delete": "admin",
    "environment-list": "member",  # read-only for editors and members
    "environment-create": "admin",
    "environment-update": "admin",
    "environment-keys": "admin",
    "environment-delete": "admin",
    "environment-pin": "admin",
    "environment-pin-create": "admin",
    "api-key-list": "member",
    "api-key-create": "member",  # every member creates their own keys
    "api-key-revoke": "member",  # their own; another's key needs admin (POST_NEEDS)
    "default-models": "member",  # reading; choosing them (POST) needs admin, see POST_NEEDS
    "model-field-search": "member",
    "playground": "member",
    "playground-run": "member",
    "playground-image": "member",
    "playground-speech": "member",
    "playground-transcription": "member",
    "playground-rerank": "member",
    "usage": "admin",
    "usage-csv": "admin",
    # The gateway authenticates API keys, not sessions (tests/gateway/ covers them).
    "gateway-models": "public",
    "gateway-chat": "public",
    "gateway-embeddings": "public",
    "gateway-moderations": "public",
    "gateway-images": "public",
    "gateway-speech": "public",
    "gateway-transcriptions": "public",
    "gateway-rerank": "public",
    "gateway-not-found": "public",
}

# Views whose GET is a page for every role but whose POST changes something; their POST needs
# the role named here (checked inside the view, after the decorator's baseline).
POST_NEEDS = {
    "workspace-update": "admin",
    "api-key-revoke": "admin",
    "default-models": "admin",
}

RANK = {role.value: role.rank for role in Role}


def app_patterns(resolver=None, prefix=""):
    """(name, pattern, callback) for every URL outside Django's admin."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            yield from app_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield entry.name, prefix + str(entry.pattern), entry.callback


PATTERNS = list(app_patterns())


@pytest.fixture
def objects(members, workspace):
    """One object of each kind that URLs address, in the workspace under test."""
    from tests.factories import (
        CredentialFactory,
        CustomModelFactory,
        InvitationFactory,
        ModelRefreshFactory,
        PendingValidationFactory,
        PoolEntryFactory,
    )

    credential = CredentialFactory(workspace=workspace)
    pending = PendingValidationFactory(workspace=workspace, credential=credential)
    custom_model = CustomModelFactory(workspace=workspace, name="my-finetune")
    CredentialFactory(workspace=workspace, model_name="my-finetune", model_type="llm")
    refresh = ModelRefreshFactory(workspace=workspace, credential=credential)
    pool_entry = PoolEntryFactory(pool__workspace=workspace, credential=credential)
    from api_keys.services import api_key_create

    api_key = api_key_create(workspace=workspace, name="ci", acting_user=members["owner"].user)
    invitation = InvitationFactory(workspace=workspace)
    from balancing.services import ModelRef, pin_set
    from workspaces.services import environment_create

    environment = environment_create(
        workspace=workspace, name="Staging", acting_user=members["owner"].user
    )
    pin_set(
        environment=environment,
        provider="openai",
        credential=credential,
        acting_user=members["owner"].user,
        ref=ModelRef("openai", "gpt-4o", "llm"),
    )
    return {
        "environment": environment,
        "invitation": invitation,
        "api_key": api_key.api_key,
        "pool_entry": pool_entry,
        "membership": members["member"],
        "credential": credential,
        "pending": pending,
        "custom_model": custom_model,
        "refresh": refresh,
    }


def url_for(name: str, objects) -> str:
    pattern = next(p for n, p, _ in PATTERNS if n == name)
    kwargs = {}
    for param in [part.split(">")[0].split(":")[-1] for part in pattern.split("<")[1:]]:
        if param == "pk":
            family = name.split("-")[0]
            assert family in PK_BY_FAMILY, f"{name}: add its family to PK_BY_FAMILY"
            kwargs[param] = PK_BY_FAMILY[family](objects)
        else:
            assert param in SAMPLE_KWARGS, f"{name}: add a sample value for <{param}>"
            kwargs[param] = SAMPLE_KWARGS[param](objects)
    return reverse(name, kwargs=kwargs)


def policy(callback) -> str:
    view_class = getattr(callback, "view_class", None)
    return getattr(callback, "access_policy", None) or getattr(view_class, "access_policy", "")


def test_every_view_declares_an_access_policy():
    missing = [name or pattern for name, pattern, callback in PATTERNS if not policy(callback)]
    assert not missing, f"views without public_view/login_view/workspace_view: {missing}"


def test_every_url_is_classified_in_the_expected_table():
    names = [name for name, _, _ in PATTERNS]
    assert all(names), "every URL needs a name so the sweep can reach it"
    assert sorted(names) == sorted(EXPECTED), "classify new URLs in EXPECTED"


@pytest.mark.parametrize(("name", "pattern", "callback"), PATTERNS)
def test_declared_policy_matches_the_expected_table(name, pattern, callback):
    expected = EXPECTED[name]
    declared = policy(callback)
    assert declared == (expected if expected in {"public", "login"} else f"workspace:{expected}")


def workspace_views():
    return [name for name, minimum in EXPECTED.items() if minimum in RANK]


@pytest.mark.parametrize("name", [n for n, minimum in EXPECTED.items() if minimum != "public"])
def test_anonymous_visitors_are_sent_to_login(client, objects, name):
    for method in ("get", "post"):
        response = getattr(client, method)(url_for(name, objects))
        assert response.status_code in (302, 405), (name, method)
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("login")), (name, method)


@pytest.mark.parametrize("role", [r.value for r in Role])
@pytest.mark.parametrize("name", workspace_views())
def test_each_role_gets_exactly_what_the_view_allows(client_for, objects, role, name):
    minimum = EXPECTED[name]
    client = client_for(role)
    url = url_for(name, objects)
    for method in ("get", "post"):
        response = getattr(client, method)(url, headers={"HX-Request": "true"})
        if response.status_code == 405:
            continue
        needed = POST_NEEDS.get(name, minimum) if method == "post" else minimum
        if RANK[role] >= RANK[needed]:
            assert response.status_code != 403, (name, method, role)
        else:
            assert response.status_code == 403, (name, method, role)


@pytest.mark.parametrize(
    "name", [n for n in workspace_views() if "pk>" in next(p for m, p, _ in PATTERNS if m == n)]
)
def test_ids_from_another_workspace_answer_404(client, objects, other_workspace, name):
    """The owner of Other reaching for Acme's ids gets 404, and Acme's rows stay as they were."""
    client.force_login(other_workspace["owner"].user)
    url = url_for(name, objects)  # ids of Acme's rows
    for method in ("get", "post"):
        response = client.post(url) if method == "post" else client.get(url)
        assert response.status_code in (404, 405), (name, method)
    for obj in objects.values():
        assert type(obj).objects.filter(pk=obj.pk).exists()


def test_a_user_without_any_workspace_is_offered_to_create_one(db):
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory())
    response = client.get(reverse("provider-list"))
    assert response.status_code == 403
    assert b"You are not in a workspace yet" in response.content
    assert reverse("workspace-create").encode() in response.content


def test_add_model_offers_and_reuses_only_the_workspaces_own_credentials(
    client, objects, other_workspace
):
    """Add Model's `credential` (a query on GET, a field on POST) takes an id: Acme's ids,
    asked for by the owner of Other, neither show nor reuse Acme's credential."""
    from credentials.models import Credential, PendingValidation

    theirs = objects["credential"]
    client.force_login(other_workspace["owner"].user)
    url = reverse("custom-model-create", args=[theirs.provider])
    html = client.get(f"{url}?credential={theirs.pk}").content.decode()
    assert theirs.name not in html and theirs.config["base_url"] not in html
    assert theirs.masks["api_key"] not in html
    response = client.post(
        url,
        {"model_name": "m", "model_type": "llm", "credential": theirs.pk, "api_key": ""},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert not PendingValidation.objects.filter(workspace=other_workspace["workspace"]).exists()
    assert not Credential.objects.filter(workspace=other_workspace["workspace"]).exists()
