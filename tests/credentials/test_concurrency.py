"""Two admins at once against the real PostgreSQL: the default stays consistent."""

from __future__ import annotations

import pytest

from credentials import services
from credentials.models import Credential
from tests.factories import CredentialFactory, MembershipFactory, WorkspaceFactory
from tests.workspaces.test_concurrency import run_concurrently
from workspaces.models import Role


@pytest.fixture
def setup(postgres):
    workspace = WorkspaceFactory()
    admins = [MembershipFactory(workspace=workspace, role=r).user for r in (Role.OWNER, Role.ADMIN)]
    keys = [
        CredentialFactory(workspace=workspace, name=f"k{i}", is_default=(i == 0)) for i in range(3)
    ]
    return workspace, admins, keys


@pytest.mark.django_db(transaction=True)
def test_two_admins_selecting_different_defaults_leave_exactly_one(setup):
    workspace, admins, keys = setup
    for _ in range(5):
        run_concurrently(
            lambda: services.credential_set_default(credential=keys[1], acting_user=admins[0]),
            lambda: services.credential_set_default(credential=keys[2], acting_user=admins[1]),
        )
        assert Credential.objects.filter(workspace=workspace, is_default=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_deleting_the_default_while_another_admin_selects_it_is_consistent(setup):
    workspace, admins, keys = setup
    outcomes = run_concurrently(
        lambda: services.credential_delete(credential=keys[1], acting_user=admins[0]),
        lambda: services.credential_set_default(credential=keys[1], acting_user=admins[1]),
    )
    remaining = Credential.objects.filter(workspace=workspace)
    assert not remaining.filter(pk=keys[1].pk).exists()
    defaults = list(remaining.filter(is_default=True))
    # Either the select lost (k0 stays default) or it won and the delete removed it (no default).
    assert [d.pk for d in defaults] in ([keys[0].pk], [])
    assert all(not isinstance(o, Exception) or "deleted meanwhile" in str(o) for o in outcomes)
