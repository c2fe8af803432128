"""EMAIL_URL becomes Django's email settings; a bad one is refused without echoing it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.email_url import parse_email_url

SMTP = "django.core.mail.backends.smtp.EmailBackend"


def test_smtp_with_starttls_and_a_percent_encoded_password():
    parsed = parse_email_url("smtp://mailer%40example.com:p%40ss:w@mail.example.com:587?tls=true")
    assert (parsed.backend, parsed.host, parsed.port) == (SMTP, "mail.example.com", 587)
    assert (parsed.user, parsed.password) == ("mailer@example.com", "p@ss:w")
    assert parsed.use_tls and not parsed.use_ssl and parsed.timeout == 10


def test_smtps_is_tls_from_the_first_byte_on_465():
    parsed = parse_email_url("smtps://u:p@mail.example.com?timeout=3")
    assert (parsed.port, parsed.use_ssl, parsed.use_tls, parsed.timeout) == (465, True, False, 3)


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("console:", "django.core.mail.backends.console.EmailBackend"),
        ("locmem://", "django.core.mail.backends.locmem.EmailBackend"),
        ("file:///srv/mail", "django.core.mail.backends.filebased.EmailBackend"),
    ],
)
def test_development_backends(url, backend):
    assert parse_email_url(url).backend == backend


def test_the_file_backend_keeps_its_folder():
    assert (
        parse_email_url("file:///srv/model%20console/mail").file_path == "/srv/model console/mail"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://u:hunter2secret@mail.example.com",
        "smtp://u:hunter2secret@mail.example.com:notaport",
        "smtp://u:hunter2secret@mail.example.com?tls=maybe",
        "smtp://u:hunter2secret@mail.example.com?tls=1&ssl=1",
        "smtp://u:hunter2secret@:25",
        "file://",
    ],
)
def test_a_bad_url_is_refused_without_echoing_the_password(url):
    with pytest.raises(ImproperlyConfigured) as refused:
        parse_email_url(url)
    assert "hunter2secret" not in str(refused.value)
    assert str(refused.value).startswith("EMAIL_URL")


def test_make_run_writes_emails_to_var_mail(tmp_path):
    """Where the docs say invitations are read under `make run`: one file per email in var/mail/."""
    from tests.test_settings import manage

    sent = manage(
        "sendtestemail",
        "someone@example.test",
        var_dir=tmp_path,
        EMAIL_URL="",
        DEFAULT_FROM_EMAIL="Console <console@example.test>",
    )
    assert sent.returncode == 0, sent.stderr
    [written] = list((tmp_path / "mail").iterdir())
    text = written.read_text()
    assert "To: someone@example.test" in text and "From: Console <console@example.test>" in text


def test_a_bad_email_url_stops_the_start_without_showing_the_password(tmp_path):
    from tests.test_settings import manage

    result = manage("check", var_dir=tmp_path, EMAIL_URL="smtp://u:hunter2secret@mail:nope")
    assert result.returncode != 0
    assert "EMAIL_URL: port and timeout must be numbers." in result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout
