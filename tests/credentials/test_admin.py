"""Deleting a credential in the Django admin, one or several at once, does what deleting it on
the provider's page does: the audit row (naming the staff user), the pool left too small stops,
the cached route forgets the credential, and a custom model losing its only credential goes."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from balancing.models import Pool
from balancing.services import ModelRef, pool_entry_add, pool_set_enabled
from credentials.models import Credential, CustomModel
from invocation.failover import route_for
from tests.factories import CredentialFactory, CustomModelFactory, UserFactory
from workspaces.models import AuditEntry

GPT = ModelRef("openai", "gpt-4o", "llm")
HX = {"HX-Request": "true"}


@pytest.fixture
def setup(workspace, members, pro_plan):
    """A balancing pool that stops when key-b goes, and a custom model with one credential."""
    workspace.plan = pro_plan
    workspace.save()
    owner = members["owner"].user
    keys = [
        CredentialFactory(workspace=workspace, name=f"key-{c}", is_default=(c == "a")) for c in "ab"
    ]
    pool_entry_add(workspace=workspace, ref=GPT, credential=keys[1], acting_user=owner)
    pool_set_enabled(workspace=workspace, ref=GPT, enabled=True, acting_user=owner)
    CustomModelFactory(workspace=workspace, name="ft")
    ft_key = CredentialFactory(
        workspace=workspace, name="ft-key", model_name="ft", model_type="llm", is_default=True
    )
    return {"workspace": workspace, "key_b": keys[1], "ft_key": ft_key}


@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(UserFactory(email="operator@site.test", is_staff=True, is_superuser=True))
    return client


def delete_on_the_page(client_for, credentials) -> None:
    for credential in credentials:
        url = reverse("credential-delete", args=["openai", credential.pk])
        assert client_for("admin").post(url, headers=HX).status_code < 400


def delete_in_the_admin(staff_client, credentials) -> None:
    for credential in credentials:
        url = reverse("admin:credentials_credential_delete", args=[credential.pk])
        assert staff_client.post(url, {"post": "yes"}).status_code == 302


def delete_selected_in_the_admin(staff_client, credentials) -> None:
    response = staff_client.post(
        reverse("admin:credentials_credential_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [c.pk for c in credentials],
            "post": "yes",
        },
    )
    assert response.status_code == 302


@pytest.mark.parametrize("where", ["page", "admin", "admin bulk"])
def test_deleting_a_credential_in_the_admin_has_the_effects_of_deleting_it_on_the_page(
    where, setup, client_for, staff_client, django_capture_on_commit_callbacks
):
    workspace, key_b, ft_key = setup["workspace"], setup["key_b"], setup["ft_key"]
    assert str(key_b.pk) in route_for(workspace=workspace, ref=GPT).entry_ids  # cached now

    with django_capture_on_commit_callbacks(execute=True):
        if where == "page":
            delete_on_the_page(client_for, [key_b, ft_key])
        elif where == "admin":
            delete_in_the_admin(staff_client, [key_b, ft_key])
        else:
            delete_selected_in_the_admin(staff_client, [key_b, ft_key])

    assert not Credential.objects.filter(pk__in=[key_b.pk, ft_key.pk]).exists()
    deleted = AuditEntry.objects.filter(workspace=workspace, action="credential.delete")
    assert sorted(deleted.values_list("object_repr", flat=True)) == sorted(
        [str(key_b), str(ft_key)]
    )
    who = "admin@acme.test" if where == "page" else "operator@site.test"
    assert set(deleted.values_list("actor_email", flat=True)) == {who}
    pool = Pool.objects.get(workspace=workspace, model_name="gpt-4o")
    assert not pool.enabled
    assert "“key-b” was deleted" in pool.warning
    assert AuditEntry.objects.filter(workspace=workspace, action="pool.stopped").count() == 1
    route = route_for(workspace=workspace, ref=GPT)
    assert route.pool_key is None and str(key_b.pk) not in route.credentials
    assert not CustomModel.objects.filter(workspace=workspace, name="ft").exists()


def test_the_audit_log_page_names_the_staff_user_of_an_admin_delete(
    setup, client_for, staff_client
):
    delete_in_the_admin(staff_client, [setup["key_b"]])

    html = client_for("owner").get(reverse("audit-log")).content.decode()

    assert "operator@site.test" in html and "Django admin" in html
