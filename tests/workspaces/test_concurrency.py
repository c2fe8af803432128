"""Concurrent role changes against the real PostgreSQL keep exactly one owner."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tests.factories import MembershipFactory, WorkspaceFactory
from workspaces import services
from workspaces.exceptions import ApplicationError
from workspaces.models import Membership, Role


def run_concurrently(*calls):
    """Start every call on its own thread (own DB connection) at the same instant."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:  # the outcome under test may be any domain error
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_ownership_transfers_leave_exactly_one_owner(postgres):
    workspace = WorkspaceFactory()
    owner = MembershipFactory(workspace=workspace, role=Role.OWNER)
    first = MembershipFactory(workspace=workspace, role=Role.ADMIN)
    second = MembershipFactory(workspace=workspace, role=Role.EDITOR)

    outcomes = run_concurrently(
        lambda: services.ownership_transfer(
            workspace=workspace, to_membership=first, acting_user=owner.user
        ),
        lambda: services.ownership_transfer(
            workspace=workspace, to_membership=second, acting_user=owner.user
        ),
    )
    failures = [o for o in outcomes if isinstance(o, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], ApplicationError)
    owners = Membership.objects.filter(workspace=workspace, role=Role.OWNER)
    assert owners.count() == 1
    assert owners.get().pk in {first.pk, second.pk}


@pytest.mark.django_db(transaction=True)
def test_an_owner_leaving_while_transferring_never_leaves_the_workspace_ownerless(postgres):
    workspace = WorkspaceFactory()
    owner = MembershipFactory(workspace=workspace, role=Role.OWNER)
    heir = MembershipFactory(workspace=workspace, role=Role.ADMIN)

    run_concurrently(
        lambda: services.ownership_transfer(
            workspace=workspace, to_membership=heir, acting_user=owner.user
        ),
        lambda: services.membership_leave(workspace=workspace, user=owner.user),
    )
    assert Membership.objects.filter(workspace=workspace, role=Role.OWNER).count() == 1
