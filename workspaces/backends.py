"""Authentication backends."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginLockout(AxesStandaloneBackend):
    """django-axes' lockout check for sign-ins made through a request. `authenticate()` called
    without one (management commands, scripts) has no address or form to lock out, so it is
    left to the next backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_username(request, credentials) -> str | None:
    """The account django-axes counts failures against: the email as typed on the sign-in
    form, case-folded, so "Admin@x" and "admin@x" share one count."""
    value = (credentials or {}).get("username")
    if value is None and request is not None:
        value = request.POST.get("username")
    return str(value).strip().lower() if value else None
