"""The domain exceptions a user can cause; views turn them into form errors or JSON in one place."""


class ApplicationError(Exception):
    """A rule of the product was not met; `message` is safe to show to the user as it is."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(ApplicationError):
    """The acting user's role does not allow this change."""
