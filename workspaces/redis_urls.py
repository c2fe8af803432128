"""The forms `REDIS_URL` may take, and clients for them.

- `redis://[:password@]host:port/db`, `rediss://…` (TLS), `unix:///path.sock?db=0`: one server.
- `sentinel://[:password@]host:port[,host:port…]/<service>[/<db>]`: Redis Sentinel. The app
  asks the sentinels for the current primary of `<service>` and follows a failover. The same
  password is used for the sentinels and the data servers.

Redis Cluster is not supported: a pool's routing state is updated by one Lua script over
several keys, which a cluster may spread over different nodes.

A client keeps at most `REDIS_MAX_CONNECTIONS` connections (a blocking pool). redis-py's default
pool opens one more connection whenever every open one is busy and never closes any: under the
gevent worker a burst of a thousand streams, each routing through Redis, left a worker holding
hundreds of Redis connections for good (each a file descriptor, and a client among Redis's
`maxclients` for every worker of every machine). Past the cap a caller waits for a connection,
at most its `socket_timeout`, and then fails as if Redis were unreachable, which every caller
already survives. A Sentinel client's pool (redis-py has no blocking one) is not capped.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

import redis
from django.conf import settings
from redis.sentinel import Sentinel


@dataclass(frozen=True)
class SentinelURL:
    hosts: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = None


def parse_sentinel(url: str) -> SentinelURL | None:
    """The Sentinel URL's parts, None for any other URL; ValueError when it is malformed."""
    if not url.startswith("sentinel://"):
        return None
    rest = url.removeprefix("sentinel://")
    netloc, _, path = rest.partition("/")
    password = None
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        password = unquote(userinfo.partition(":")[2] or userinfo) or None
    hosts = []
    for item in netloc.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host:
            host, port = port, "26379"
        hosts.append((host.strip("[]"), int(port or 26379)))
    service, _, db = path.strip("/").partition("/")
    if not hosts or not service:
        raise ValueError("A Sentinel URL is sentinel://host:port[,host:port]/<service>[/<db>].")
    return SentinelURL(tuple(hosts), service, int(db or 0), password)


def redis_client(url: str, **options) -> redis.Redis:
    """A client for `url` (see the module docstring); `options` as redis.Redis takes them."""
    sentinel = parse_sentinel(url)
    if sentinel is None:
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=settings.REDIS_MAX_CONNECTIONS,
            timeout=options.get("socket_timeout") or 1.0,  # the wait for a free connection
            **options,
        )
        client = redis.Redis(connection_pool=pool)
        client.auto_close_connection_pool = True  # closing the client closes its pool
        return client
    timeouts = {
        key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options
    }
    sentinels = Sentinel(
        list(sentinel.hosts),
        sentinel_kwargs={**timeouts, "password": sentinel.password},
        **timeouts,
    )
    return sentinels.master_for(
        sentinel.service, db=sentinel.db, password=sentinel.password, **options
    )


def celery_broker(url: str) -> tuple[str, dict]:
    """Celery's broker URL and transport options for `url` (kombu's Sentinel transport takes
    one `sentinel://host:port/db` per sentinel, joined by ";", and the service's name)."""
    sentinel = parse_sentinel(url)
    if sentinel is None:
        return url, {}
    auth = f":{sentinel.password}@" if sentinel.password else ""
    joined = ";".join(f"sentinel://{auth}{h}:{p}/{sentinel.db}" for h, p in sentinel.hosts)
    return joined, {"master_name": sentinel.service}
