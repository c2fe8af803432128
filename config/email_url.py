"""`EMAIL_URL` → Django's email settings, in one small parser (the URL style of DATABASE_URL).

    smtp://user:password@host:587?tls=true   SMTP with STARTTLS (`tls`), the usual submission
    smtps://user:password@host:465           SMTP over TLS from the first byte (`ssl`)
    file:///var/lib/model-console/mail       one file per sent batch, in that folder
    console:                                 printed on the web process's stdout
    locmem:, dummy:                          kept in memory (tests) or dropped

User and password are percent-decoded (`%40` for `@`). `timeout` (seconds, default 10) bounds
every SMTP call so a hung mail server cannot hold a web thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class EmailSettings:
    backend: str
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    timeout: float = 10.0
    file_path: str | None = None


def _flag(options: dict[str, list[str]], name: str, default: bool) -> bool:
    if name not in options:
        return default
    value = options[name][-1].strip().lower()
    if value not in TRUE | FALSE:
        raise ImproperlyConfigured(f"EMAIL_URL: {name} must be true or false.")
    return value in TRUE


def parse_email_url(url: str) -> EmailSettings:
    """Never echoes the URL in an error: it may carry the SMTP password."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in BACKENDS:
        raise ImproperlyConfigured(
            "EMAIL_URL must start with one of " + ", ".join(f"{s}:" for s in BACKENDS) + "."
        )
    if scheme == "file":
        if not parts.path:
            raise ImproperlyConfigured("EMAIL_URL: file: needs a folder, e.g. file:///srv/mail.")
        return EmailSettings(backend=BACKENDS[scheme], file_path=unquote(parts.path))
    if scheme not in {"smtp", "smtps"}:
        return EmailSettings(backend=BACKENDS[scheme])
    options = parse_qs(parts.query, keep_blank_values=True)
    use_ssl = _flag(options, "ssl", scheme == "smtps")
    use_tls = _flag(options, "tls", False)
    if use_ssl and use_tls:
        raise ImproperlyConfigured("EMAIL_URL: choose tls (STARTTLS) or ssl, not both.")
    try:
        port = parts.port or (465 if use_ssl else 587 if use_tls else 25)
        timeout = float(options.get("timeout", ["10"])[-1])
    except ValueError:
        raise ImproperlyConfigured("EMAIL_URL: port and timeout must be numbers.") from None
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL: smtp: needs a host, e.g. smtp://mail.example.com.")
    return EmailSettings(
        backend=BACKENDS[scheme],
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=use_tls,
        use_ssl=use_ssl,
        timeout=timeout,
    )
