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
