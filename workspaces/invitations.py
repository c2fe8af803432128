"""Invitation links and the emails that carry them.

A link is the invitation's id and `link_version`, signed with Django's `TimestampSigner`
(`django.core.signing`), so it cannot be forged, stops working after `INVITATION_MAX_AGE_DAYS`,
after a Resend (the version changes) and once the invitation is accepted or cancelled (the row
is gone). The link only ever goes to the invited address: it is built here, put in the email,
and never returned to the inviter.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from .models import Invitation, Membership

log = logging.getLogger(__name__)
SALT = "workspaces.invitation"


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps([invitation.pk, invitation.link_version], salt=SALT)


def invitation_from_token(token: str) -> Invitation | None:
    """The pending invitation a link names, or None when it is forged, expired or stale."""
    try:
        pk, version = signing.loads(
            token, salt=SALT, max_age=settings.INVITATION_MAX_AGE_DAYS * 86400
        )
        invitation = (
            Invitation.objects.select_related("workspace", "invited_by").filter(pk=int(pk)).first()
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if invitation is None or not constant_time_compare(invitation.link_version, str(version)):
        return None
    return invitation


def _send(*, to: str, template: str, context: dict, what: str) -> bool:
    """Send one email; a mail server that fails is logged (never the body) and reported."""
    subject = " ".join(
        render_to_string(f"workspaces/email/{template}_subject.txt", context).split()
    )
    body = render_to_string(f"workspaces/email/{template}.txt", context)
    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to]).send()
    except Exception as exc:  # SMTP errors, refused connections, timeouts: all "not sent"
        log.warning("Could not send the %s email (%s).", what, type(exc).__name__)
        return False
    return True


def send_invitation(invitation: Invitation, *, base_url: str) -> bool:
    link = base_url.rstrip("/") + reverse("invitation-open", args=[invitation_token(invitation)])
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace,
        "inviter": invitation.invited_by,
        "link": link,
        "max_age_days": f"{settings.INVITATION_MAX_AGE_DAYS:g}",
    }
    return _send(to=invitation.email, template="invitation", context=context, what="invitation")


def send_added_notice(membership: Membership, *, base_url: str, acting_user) -> bool:
    context = {
        "membership": membership,
        "workspace": membership.workspace,
        "inviter": acting_user,
        "link": base_url.rstrip("/") + reverse("home"),
    }
    return _send(
        to=membership.user.email, template="member_added", context=context, what="member added"
    )
