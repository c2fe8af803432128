"""What other apps hang on a membership learn that it ends, without workspaces knowing them.

Workspaces is the floor the other apps stand on, so it never imports them; an app that keeps
something per member (the gateway's API keys) connects a receiver in its AppConfig.ready().
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that ends a person's membership of a workspace (removal, leaving,
# the Django admin, a membership moved to another person or workspace): receivers end what the
# person held there, with their own audit rows. Keyword arguments: workspace, user, acting_user.
membership_ending = Signal()

# Sent to show, before a removal, what stops with it: each receiver returns a list of lines,
# e.g. 'API key "ci" (mck_ab12cd…)'. Keyword arguments: workspace, user.
membership_ending_preview = Signal()


def what_ends_with_membership(*, workspace, user) -> list[str]:
    """The lines every receiver of `membership_ending_preview` gives, in receiver order."""
    answers = membership_ending_preview.send(sender=None, workspace=workspace, user=user)
    return [line for _receiver, lines in answers for line in lines or ()]


# Sent inside the transaction that deletes an environment, before its row goes: receivers end
# what belonged to it (api_keys revokes its keys) and return lines saying what ended.
# Keyword arguments: environment, acting_user.
environment_ending = Signal()

# Sent to show, before the deletion, what ends with it: each receiver returns a list of lines.
# Keyword arguments: environment.
environment_ending_preview = Signal()


def what_ends_with_environment(*, environment) -> list[str]:
    """The lines every receiver of `environment_ending_preview` gives, in receiver order."""
    answers = environment_ending_preview.send(sender=None, environment=environment)
    return [line for _receiver, lines in answers for line in lines or ()]
