"""Authentication backends."""

from __future__ import annotations

import ipaddress

from axes.backends import AxesStandaloneBackend
from django.conf import settings


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


def lockout_client_address(request) -> str | None:
    """The address django-axes counts failures against: the client's, as seen by the nearest of
    `TRUSTED_PROXY_COUNT` proxies in front of the app (0: the peer of the socket itself).

    Each trusted proxy appends the address it was called from to X-Forwarded-For, so the last
    `TRUSTED_PROXY_COUNT` entries are the proxies' own writing and the client's is the
    left-most of them; anything further left was written by the client and is ignored. A chain
    shorter than that, or an entry that is no IP address, did not come through the proxies
    as configured: the socket's peer is counted instead. (django-ipware's proxy count
    reads the chain differently: with one proxy it refuses the one-entry header nginx sends.)
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    chain = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(chain) < count:
        return remote
    try:
        return str(ipaddress.ip_address(chain[-count]))
    except ValueError:
        return remote
