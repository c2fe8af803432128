"""Default credentials: one per scope, chosen explicitly, never silently."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from credentials import services
from credentials.models import Credential, mask_secret
from tests.factories import CredentialFactory
from workspaces.exceptions import NotAllowed
from workspaces.models import AuditEntry


@pytest.fixture
def keys(workspace):
    first = CredentialFactory(workspace=workspace, name="key-a", is_default=True)
    second = CredentialFactory(workspace=workspace, name="key-b")
    return first, second


def defaults(workspace) -> list[str]:
    return list(
        Credential.objects.filter(workspace=workspace, is_default=True).values_list(
            "name", flat=True
        )
    )


@pytest.mark.parametrize(
    ("secret", "mask"),
    [
        ("sk-proj-abcdefghijklmnop1234", "sk-…1234"),
        ("abcdefghij12", "ab…12"),
        ("short", "………"),
    ],
)
def test_masks_show_at_most_three_and_four_characters(secret, mask):
    assert mask_secret(secret) == mask


def test_the_database_refuses_two_defaults_in_one_scope(keys):
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.filter(pk=keys[1].pk).update(is_default=True)


def test_selecting_a_default_moves_it(workspace, members, keys):
    services.credential_set_default(credential=keys[1], acting_user=members["admin"].user)
    assert defaults(workspace) == ["key-b"]
    entry = AuditEntry.objects.get(action="credential.default")
    assert entry.actor == members["admin"].user and "key-b" in entry.object_repr


def test_deleting_the_default_leaves_no_default(workspace, members, keys):
    was_default = services.credential_delete(credential=keys[0], acting_user=members["owner"].user)
    assert was_default
    assert defaults(workspace) == []
    assert Credential.objects.filter(workspace=workspace).count() == 1


def test_deleting_another_credential_keeps_the_default(workspace, members, keys):
    deleted = services.credential_delete(credential=keys[1], acting_user=members["admin"].user)
    assert not deleted.was_default
    assert defaults(workspace) == ["key-a"]


@pytest.mark.parametrize("role", ["editor", "member"])
def test_editors_and_members_cannot_change_defaults_or_delete(workspace, members, keys, role):
    with pytest.raises(NotAllowed):
        services.credential_set_default(credential=keys[1], acting_user=members[role].user)
    with pytest.raises(NotAllowed):
        services.credential_delete(credential=keys[0], acting_user=members[role].user)
    assert defaults(workspace) == ["key-a"]
    assert Credential.objects.filter(workspace=workspace).count() == 2


def test_scopes_have_their_own_defaults(workspace, members, keys):
    custom = CredentialFactory(
        workspace=workspace, name="ft", model_name="my-ft", model_type="llm", is_default=True
    )
    services.credential_set_default(credential=keys[1], acting_user=members["admin"].user)
    custom.refresh_from_db()
    assert custom.is_default
    assert sorted(defaults(workspace)) == ["ft", "key-b"]
