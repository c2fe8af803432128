"""The account pre-hijack of issue 16, played end to end through the pages and the mailbox.

Mallory, a signed-in user, creates a workspace and invites ceo@victim.test. If she could see the
invitation link she would choose ceo@victim.test's password herself; when the real owner of
Victim Corp later adds that address as admin, Mallory would hold Victim Corp's admin pages.
"""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from workspaces import services
from workspaces.models import Membership

HX = {"HX-Request": "true"}
LINK = re.compile(r"(?:https?://testserver)?(/invitation/[^\s\"'<>\\]+)")
MALLORYS_PASSWORD = "mallory-chose-this-1"
CEOS_PASSWORD = "the-real-ceo-chose-this-2"


def links_in(response) -> list[str]:
    """Every invitation link in what a response shows its reader: body and headers (toasts)."""
    seen = response.content.decode() + " ".join(f"{k}: {v}" for k, v in response.items())
    return LINK.findall(seen)


def set_password_through(client: Client, path: str, password: str):
    page = client.get(path, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else path
    return client.post(
        form_url, {"new_password1": password, "new_password2": password}, follow=True
    )


def test_an_inviter_cannot_pre_hijack_an_address_through_the_invitation_link(db):
    victim_owner = UserFactory(email="owner@victim.test")
    victim = services.workspace_create(name="Victim Corp", owner=victim_owner)

    # Mallory creates a workspace of her own and invites the victim's address.
    mallory = Client()
    mallory.force_login(UserFactory(email="mallory@evil.test"))
    mallory.post(reverse("workspace-create"), {"name": "Evil"})
    invited = mallory.post(
        reverse("member-create"), {"email": "ceo@victim.test", "role": "member"}, headers=HX
    )
    seen = links_in(invited) + links_in(mallory.get(reverse("member-list")))
    # She opens every link she was shown and chooses ceo@victim.test's password.
    for path in seen:
        set_password_through(Client(), path, MALLORYS_PASSWORD)

    # Later, Victim Corp's owner adds the same address as an admin.
    owner = Client()
    owner.force_login(victim_owner)
    owner.post(reverse("member-create"), {"email": "ceo@victim.test", "role": "admin"}, headers=HX)

    # Mallory signs in as ceo@victim.test and opens Victim Corp's admin pages.
    attacker = Client()
    attacker.post(reverse("login"), {"username": "ceo@victim.test", "password": MALLORYS_PASSWORD})
    attacker.post(reverse("workspace-switch"), {"workspace": victim.slug})
    admin_page = attacker.get(reverse("member-create"))
    assert admin_page.status_code != 200, "Mallory holds Victim Corp's admin pages"
    assert "_auth_user_id" not in attacker.session, "Mallory signed in as ceo@victim.test"
    assert seen == [], "the inviter was shown the invitation link"

    # The link went to the address by email: whoever reads ceo@victim.test's mail accepts.
    to_ceo = [m for m in mail.outbox if m.to == ["ceo@victim.test"]]
    assert len(to_ceo) == 2  # Mallory's invitation and Victim Corp's
    from_victim = next(m for m in to_ceo if "Victim Corp" in m.subject)
    ceo = Client()
    accepted = set_password_through(ceo, LINK.search(from_victim.body).group(1), CEOS_PASSWORD)
    assert accepted.status_code == 200
    assert ceo.get(reverse("member-create")).status_code == 200  # an admin of Victim Corp
    assert Membership.objects.get(workspace=victim, user__email="ceo@victim.test").role == "admin"
    # Mallory's own invitation was never accepted: the real CEO is not in her workspace.
    assert Membership.objects.filter(user__email="ceo@victim.test").count() == 1
