"""What the credentials app announces to the apps above it, which connect in their
`AppConfig.ready()` (balancing: its pools). Credentials know nothing of pools; a pool follows
its credentials through these.

- `credential_saved`: a credential was created or edited, inside the save's transaction.
  Arguments: `credential`, `created`, `add_to_pool` (the pool a new credential was asked to
  join from Load balancing → Add credential, or None) and `acting_user`. A receiver that raises
  ApplicationError (a pool filled meanwhile) undoes the save.
- `credential_working`: a credential is known to work again (saved after a passing check, or
  recovered by a later check), after the commit. Argument: `credential`.
- `credential_deleting`: a credential is about to be deleted, inside the delete's transaction.
  Arguments: `credential`, `acting_user`. Receivers return a dict: `pools_stopped`, the
  models ("provider/model") whose load balancing stopped because of it, and `pins_cleared`,
  the environments that pinned it ("Development (openai)") and follow the default now.
"""

from django.dispatch import Signal

credential_saved = Signal()
credential_working = Signal()
credential_deleting = Signal()
