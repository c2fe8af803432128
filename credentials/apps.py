from django.apps import AppConfig

from upstream.errors import ProviderError
from upstream.schema import MODEL_TYPES
from workspaces.audit_words import ERROR_WORDS, TYPE_WORDS


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = "Credentials"

    def ready(self) -> None:
        # Registers the Celery tasks, which the job base publishes by name from web processes
        # too (Celery's own autodiscovery runs only in workers).
        from . import tasks  # noqa: F401

        # The audit log (a lower app) reads model types and error codes in the catalog's words.
        TYPE_WORDS.update(MODEL_TYPES)
        todo = [ProviderError]
        while todo:
            cls = todo.pop()
            ERROR_WORDS.setdefault(cls.code, cls.title)
            todo.extend(cls.__subclasses__())
