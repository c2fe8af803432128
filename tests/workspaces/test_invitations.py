"""Invitations by email (issue 16): who is added at once, who is invited, what a pending
invitation grants (nothing), and the link's life: one address, one use, expiry, Resend, Cancel."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from api_keys.services import api_key_create
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from workspaces.exceptions import NotAllowed
from workspaces.models import Invitation, Membership, User

HX = {"HX-Request": "true"}
LINK = re.compile(r"http://testserver(/invitation/[^\s\"'<>]+)")
NEW_PASSWORD = "a-long-new-pass-42"


def toast(response) -> dict:
    return json.loads(response["HX-Trigger"])["toast"]


def invite(client: Client, email: str, role: str = "member"):
    return client.post(reverse("member-create"), {"email": email, "role": role}, headers=HX)


def link_to(email: str) -> str:
    """The newest invitation link in `email`'s mailbox."""
    mine = [m for m in mail.outbox if m.to == [email]]
    assert mine, f"no email to {email}"
    return LINK.search(mine[-1].body).group(1)


def accept_with_password(client: Client, path: str, password: str = NEW_PASSWORD):
    opened = client.get(path)
    assert opened.status_code == 302 and opened["Location"] == reverse("invitation-accept")
    return client.post(
        reverse("invitation-accept"),
        {"new_password1": password, "new_password2": password},
        follow=True,
    )


def can_log_in(email: str, password: str) -> bool:
    response = Client().post(reverse("login"), {"username": email, "password": password})
    return response.status_code == 302


def test_a_new_address_gets_an_email_with_a_link_that_nobody_else_is_shown(client_for, workspace):
    owner = client_for("owner")
    response = invite(owner, "new@acme.test")

    assert response.status_code == 204
    assert toast(response)["message"] == (
        "Invitation emailed to new@acme.test. They join as member once they accept it."
    )
    page = owner.get(reverse("member-list")).content.decode()
    assert "Pending invitations" in page and "new@acme.test" in page
    [sent] = mail.outbox
    assert sent.to == ["new@acme.test"] and sent.from_email == "Model Console <noreply@localhost>"
    assert "Acme" in sent.subject
    path = link_to("new@acme.test")
    assert path not in response.content.decode() + str(response.headers) + page
    assert not User.objects.filter(email="new@acme.test").exists()  # no account until accepted

    invitee = Client()
    done = accept_with_password(invitee, path)
    assert done.redirect_chain[-1][0] == reverse("provider-list")
    assert b"Welcome to Acme. You joined as member." in done.content
    assert Membership.objects.get(workspace=workspace, user__email="new@acme.test").role == "member"
    assert User.objects.get(email="new@acme.test").email_confirmed
    assert can_log_in("new@acme.test", NEW_PASSWORD)
    assert b"no longer works" in Client().get(path).content  # used once
    assert not Invitation.objects.exists()


def test_an_unconfirmed_account_is_invited_not_attached(client_for, workspace):
    unproven = UserFactory(email="unproven@else.test", email_confirmed_at=None)
    invite(client_for("admin"), "unproven@else.test", "admin")

    assert not Membership.objects.filter(user=unproven).exists()
    holder = Client()
    holder.force_login(unproven)
    assert holder.post(reverse("workspace-switch"), {"workspace": "acme"}).status_code == 404

    # Whoever reads the mail chooses the password; the old one (and its sessions) stop working.
    accept_with_password(Client(), link_to("unproven@else.test"))
    assert Membership.objects.get(user=unproven, workspace=workspace).role == "admin"
    assert not can_log_in("unproven@else.test", PASSWORD)
    assert holder.get(reverse("member-list")).status_code == 302  # signed out


def test_a_pending_invitation_grants_nothing(client_for, workspace):
    elsewhere = MembershipFactory(user__email="pending@else.test", user__email_confirmed_at=None)
    invite(client_for("owner"), "pending@else.test", "admin")
    person = Client()
    person.force_login(elsewhere.user)

    assert person.post(reverse("workspace-switch"), {"workspace": "acme"}).status_code == 404
    assert b"Acme" not in person.get(reverse("member-list")).content  # their own workspace only
    with pytest.raises(NotAllowed):
        api_key_create(workspace=workspace, name="sneaky", acting_user=elsewhere.user)
    member_page = client_for("member").get(reverse("member-list")).content.decode()
    assert "pending@else.test" not in member_page  # not counted as a member
    settings_page = client_for("owner").get(reverse("workspace-update")).content.decode()
    assert "pending@else.test" not in settings_page  # not a candidate owner either


def test_a_confirmed_account_is_added_at_once_and_told_by_email(client_for, workspace):
    UserFactory(email="known@else.test")
    response = invite(client_for("owner"), "known@else.test", "editor")

    assert toast(response)["message"] == "known@else.test added as editor."
    assert Membership.objects.get(workspace=workspace, user__email="known@else.test").role == (
        "editor"
    )
    [notice] = mail.outbox
    assert notice.to == ["known@else.test"] and "/invitation/" not in notice.body


def test_a_confirmed_account_accepts_only_when_logged_in_as_itself(client_for, workspace):
    # Invited while unconfirmed; confirmed meanwhile through another workspace's invitation.
    person = UserFactory(email="late@else.test", email_confirmed_at=None)
    invite(client_for("owner"), "late@else.test")
    path = link_to("late@else.test")
    other_owner = MembershipFactory(role="owner", user__email="boss@other.test").user
    boss = Client()
    boss.force_login(other_owner)
    invite(boss, "late@else.test")
    accept_with_password(Client(), link_to("late@else.test"))

    anonymous = Client()
    anonymous.get(path)
    page = anonymous.post(reverse("invitation-accept"))
    assert b"Log in as late@else.test to accept this invitation." in page.content
    stranger = client_for("editor")
    stranger.get(path)
    assert (
        b"but this invitation is for late@else.test"
        in stranger.get(reverse("invitation-accept")).content
    )
    assert stranger.post(reverse("invitation-accept")).status_code == 422
    assert not Membership.objects.filter(user=person, workspace=workspace).exists()

    invitee = Client()
    person.refresh_from_db()  # the password chosen through Other's link
    invitee.force_login(person)
    invitee.get(path)
    assert b"Accept invitation" in invitee.get(reverse("invitation-accept")).content
    invitee.post(reverse("invitation-accept"))
    assert Membership.objects.filter(user=person, workspace=workspace).exists()


def test_an_invitation_link_expires(client_for, settings):
    settings.INVITATION_MAX_AGE_DAYS = 1 / 86400  # one second
    invite(client_for("owner"), "slow@acme.test")
    path = link_to("slow@acme.test")
    time.sleep(2.1)

    assert b"no longer works" in Client().get(path).content
    assert "Link expired" in client_for("owner").get(reverse("member-list")).content.decode()


def test_a_cancelled_invitation_stops_working_even_if_already_opened(client_for, workspace):
    owner = client_for("owner")
    invite(owner, "gone@acme.test")
    invitation = Invitation.objects.get()
    invitee = Client()
    invitee.get(link_to("gone@acme.test"))  # opened, form not sent yet

    confirm = owner.get(reverse("invitation-delete", args=[invitation.pk]), headers=HX)
    assert b"Cancel the invitation for gone@acme.test?" in confirm.content
    response = owner.post(reverse("invitation-delete", args=[invitation.pk]), headers=HX)
    assert toast(response)["message"] == "Invitation for gone@acme.test cancelled."

    late = invitee.post(
        reverse("invitation-accept"), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert b"no longer works" in late.content
    assert not User.objects.filter(email="gone@acme.test").exists()
    assert not Membership.objects.filter(workspace=workspace, user__email="gone@acme.test").exists()


def test_resend_emails_a_new_link_and_the_old_one_stops_working(client_for, workspace):
    owner = client_for("owner")
    invite(owner, "again@acme.test")
    first = link_to("again@acme.test")
    invitation = Invitation.objects.get()

    response = owner.post(reverse("invitation-resend", args=[invitation.pk]), headers=HX)
    assert toast(response)["message"] == "A new invitation link was emailed to again@acme.test."
    second = link_to("again@acme.test")
    assert second != first and len(mail.outbox) == 2
    assert b"no longer works" in Client().get(first).content
    accept_with_password(Client(), second)
    assert Membership.objects.filter(workspace=workspace, user__email="again@acme.test").exists()


@pytest.mark.parametrize("role", ["editor", "member"])
def test_only_owners_and_admins_see_resend_and_cancel(client_for, role):
    invite(client_for("admin"), "wait@acme.test")
    invitation = Invitation.objects.get()
    admin_page = client_for("admin").get(reverse("member-list")).content.decode()
    assert "Resend" in admin_page and "Cancel the invitation for wait@acme.test" in admin_page

    client = client_for(role)
    page = client.get(reverse("member-list")).content.decode()
    assert "wait@acme.test" not in page and "Resend" not in page
    assert client.post(reverse("invitation-resend", args=[invitation.pk])).status_code == 403
    assert client.post(reverse("invitation-delete", args=[invitation.pk])).status_code == 403
    assert Invitation.objects.get().link_version == invitation.link_version
    assert len(mail.outbox) == 1


def test_another_workspaces_invitation_answers_404(client_for, other_workspace):
    boss = Client()
    boss.force_login(other_workspace["owner"].user)
    invite(boss, "theirs@other.test")
    theirs = Invitation.objects.get()
    admin = client_for("admin")
    assert admin.post(reverse("invitation-resend", args=[theirs.pk])).status_code == 404
    assert admin.post(reverse("invitation-delete", args=[theirs.pk])).status_code == 404
    assert Invitation.objects.filter(pk=theirs.pk).exists()


def test_a_mail_server_that_refuses_leaves_the_invitation_to_resend(client_for, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    response = invite(client_for("owner"), "unlucky@acme.test")

    assert response.status_code == 204
    assert toast(response) == {
        "level": "warning",
        "message": "The invitation for unlucky@acme.test is saved but the email could not be "
        "sent; try Resend later.",
    }
    assert Invitation.objects.get().email == "unlucky@acme.test"


def test_inviting_the_same_address_twice_points_to_resend(client_for):
    invite(client_for("owner"), "twice@acme.test")
    response = invite(client_for("admin"), "twice@acme.test")
    assert response.status_code == 422
    assert b"twice@acme.test is already invited; use Resend on the pending invitation." in (
        response.content
    )
    assert Invitation.objects.count() == 1 and len(mail.outbox) == 1


def test_a_forged_or_garbled_link_is_a_clear_page(db):
    for token in ["not-a-token", "WzEsImFiYyJd:1u2v3w:forged", "x" * 300]:
        response = Client().get(reverse("invitation-open", args=[token]))
        assert response.status_code == 200 and b"no longer works" in response.content
    assert b"no longer works" in Client().get(reverse("invitation-accept")).content


def test_a_request_line_with_an_invitation_link_is_logged_without_its_token(client_for):
    from config.logs import RedactSecrets

    invite(client_for("owner"), "logged@acme.test")
    path = link_to("logged@acme.test")
    record = logging.LogRecord(
        "django.server", logging.INFO, "", 0, '"GET %s HTTP/1.1" 302 0', (path,), None
    )
    RedactSecrets().filter(record)
    token = path.split("/")[2]
    assert token not in record.getMessage()
    assert record.getMessage() == '"GET /invitation/[redacted]/ HTTP/1.1" 302 0'
