"""The routing engine: round-robin, cooldowns, probes, failover and the Redis fallback, on both
state backends (process-local, and the real Redis through the `redis_url` fixture)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import pytest
import redis

from balancing.routing import (
    COOLING_DOWN,
    FAILING,
    IN_ROTATION,
    PROBING,
    PoolUnavailable,
    Router,
)
from upstream.errors import (
    AuthenticationFailed,
    BadRequest,
    ModelNotAvailable,
    QuotaExhausted,
    RateLimited,
    Timeout,
    Unreachable,
    UpstreamError,
)

POOL = "ws:12:openai:gpt-4o:llm"
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


class FakeClock:
    """A clock tests move by hand; as `sleep`, it advances instead of waiting."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    sleep = advance


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["local", "redis"])
def make_router(request, clock):
    """make_router(**options) builds a Router on the backend under test, on the fake clock."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None

    def make(**options) -> Router:
        options = {"clock": clock, "sleep": clock.sleep, **options}
        return Router.from_url(url, **options) if url else Router.local(**options)

    return make


@pytest.fixture
def router(make_router) -> Router:
    return make_router()


def picks(router: Router, entry_ids: list[str], count: int) -> list[str | None]:
    return [router.pick(POOL, entry_ids).entry_id for _ in range(count)]


def fail(router: Router, entry_id: str, error: Exception):
    return router.report_failure(POOL, entry_id, error)


# -- round-robin -------------------------------------------------------------------------------


def test_round_robin_visits_entries_in_pool_order(router):
    assert picks(router, ["a", "b", "c"], 7) == ["a", "b", "c", "a", "b", "c", "a"]
    assert router.mode == ("shared" if router.shared else "local")


def test_an_entry_listed_twice_gets_twice_the_share(router):
    shares = Counter(picks(router, ["a", "b", "b"], 300))
    assert shares == {"a": 100, "b": 200}


def test_pools_keep_separate_rotations(router):
    assert router.pick("pool-1", ["a", "b"]).entry_id == "a"
    assert router.pick("pool-2", ["x", "y"]).entry_id == "x"
    assert router.pick("pool-1", ["a", "b"]).entry_id == "b"


def test_two_routers_on_the_same_redis_share_one_rotation(redis_url):
    first, second = Router.from_url(redis_url), Router.from_url(redis_url)
    order = [(first if i % 2 == 0 else second).pick(POOL, ["a", "b"]).entry_id for i in range(6)]
    assert order == ["a", "b", "a", "b", "a", "b"]


def test_local_routers_each_keep_their_own_rotation():
    first, second = Router.local(), Router.local()
    order = [(first if i % 2 == 0 else second).pick(POOL, ["a", "b"]).entry_id for i in range(6)]
    assert order == ["a", "a", "b", "b", "a", "a"]


# -- cooldowns ---------------------------------------------------------------------------------


def test_rate_limited_entry_leaves_rotation_for_sixty_seconds(router, clock):
    fail(router, "a", RateLimited(retry_after=5))
    assert picks(router, ["a", "b"], 3) == ["b", "b", "b"]
    clock.advance(59)
    assert "a" not in picks(router, ["a", "b"], 3)
    clock.advance(1)
    assert set(picks(router, ["a", "b"], 4)) == {"a", "b"}


def test_rate_limit_cooldown_follows_a_longer_retry_after_up_to_the_cap(make_router, clock):
    router = make_router(cap_seconds=600)
    assert fail(router, "a", RateLimited(retry_after=120)).seconds == 120
    assert router.state(POOL, ["a"])["a"].until == clock() + 120
    assert fail(router, "b", RateLimited(retry_after=86400)).seconds == 600
    clock.advance(600)
    assert set(picks(router, ["a", "b"], 2)) == {"a", "b"}


@pytest.mark.parametrize("error", [AuthenticationFailed(), QuotaExhausted()])
def test_auth_and_quota_failures_keep_the_entry_failing_until_restored(router, clock, error):
    fail(router, "a", error)
    clock.advance(7 * 86400)
    assert picks(router, ["a", "b"], 3) == ["b", "b", "b"]
    assert router.state(POOL, ["a"])["a"].state == FAILING
    router.restore(POOL, "a")
    assert router.state(POOL, ["a"])["a"].state == IN_ROTATION
    assert set(picks(router, ["a", "b"], 2)) == {"a", "b"}


def test_a_rate_limit_does_not_lift_a_failing_entry(router, clock):
    fail(router, "a", AuthenticationFailed())
    router.note_rate_limit(POOL, "a", remaining=0, reset_seconds=5)
    clock.advance(10)
    assert router.state(POOL, ["a"])["a"].state == FAILING


@pytest.mark.parametrize("error", [UpstreamError(), Unreachable(), Timeout()])
def test_transient_errors_back_off_doubling_up_to_the_cap(router, clock, error):
    durations = []
    for _ in range(7):
        durations.append(fail(router, "a", error).seconds)
        assert router.pick(POOL, ["a"]).entry_id is None
        clock.advance(durations[-1])
        assert router.pick(POOL, ["a"]).probe  # the half-open probe, which fails again
    assert durations == [10, 20, 40, 80, 160, 300, 300]


def test_errors_that_are_not_the_entrys_fault_leave_it_in_rotation(router):
    for error in (BadRequest(), ModelNotAvailable()):
        assert fail(router, "a", error) is None
    assert picks(router, ["a", "b"], 2) == ["a", "b"]
    assert router.state(POOL, ["a"])["a"].failures == 0


def test_only_one_caller_gets_the_probe_after_a_backoff_expires(router, clock):
    fail(router, "a", Timeout())
    clock.advance(10)
    probe = router.pick(POOL, ["a", "b"])
    assert (probe.entry_id, probe.probe) == ("a", True)
    assert router.state(POOL, ["a"])["a"].state == PROBING
    assert picks(router, ["a", "b"], 3) == ["b", "b", "b"]


def test_concurrent_routers_hand_out_exactly_one_probe(make_router, clock):
    routers = [make_router() for _ in range(8)]
    fail(routers[0], "a", UpstreamError())
    clock.advance(10)
    start = threading.Barrier(len(routers))
    results = []

    def ask(router):
        start.wait()
        results.append(router.pick(POOL, ["a"]))

    threads = [threading.Thread(target=ask, args=(router,)) for router in routers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if routers[0].shared is None:  # process-local state: each process probes on its own
        assert [r.entry_id for r in results] == ["a"] * 8
    else:
        assert sorted((r.entry_id or "", r.probe) for r in results) == [("", False)] * 7 + [
            ("a", True)
        ]


def test_one_router_from_many_threads_hands_out_exactly_one_probe(router, clock):
    fail(router, "a", UpstreamError())
    clock.advance(10)
    start = threading.Barrier(8)
    results = []

    def ask():
        start.wait()
        results.append(router.pick(POOL, ["a"]).entry_id)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(results) == {"a": 1, None: 7}


def test_a_successful_probe_returns_the_entry_to_rotation(router, clock):
    fail(router, "a", Timeout())
    fail(router, "a", Timeout())  # 20 s: two consecutive failures
    clock.advance(20)
    assert router.invoke(POOL, ["a", "b"], lambda entry: entry.upper()) == ("a", "A")
    state = router.state(POOL, ["a"])["a"]
    assert (state.state, state.failures) == (IN_ROTATION, 0)
    # A later timeout starts the backoff from the beginning again.
    assert fail(router, "a", Timeout()).seconds == 10


def test_a_failed_probe_cools_the_entry_for_twice_as_long(router, clock):
    fail(router, "a", Timeout())
    clock.advance(10)

    def call(entry):
        if entry == "a":
            raise Timeout()
        return "ok"

    assert router.invoke(POOL, ["a", "b"], call) == ("b", "ok")
    state = router.state(POOL, ["a"])["a"]
    assert (state.state, state.until, state.failures) == (COOLING_DOWN, clock() + 20, 2)


def test_a_probe_whose_caller_vanished_is_handed_out_again_after_its_timeout(make_router, clock):
    router = make_router(probe_timeout=30)
    fail(router, "a", Timeout())
    clock.advance(10)
    assert router.pick(POOL, ["a"]).probe
    clock.advance(29)
    assert router.pick(POOL, ["a"]).entry_id is None
    clock.advance(1)
    assert router.pick(POOL, ["a"]).probe


def test_rate_limit_headers_take_the_entry_out_until_the_reset(router, clock):
    assert router.note_rate_limit(POOL, "a", remaining=3, reset_seconds=20) is None
    assert picks(router, ["a", "b"], 2) == ["a", "b"]
    router.note_rate_limit(POOL, "a", remaining=0, reset_seconds=20)
    state = router.state(POOL, ["a"])["a"]
    assert (state.state, state.until, state.reason) == (COOLING_DOWN, clock() + 20, "rate_limited")
    assert picks(router, ["a", "b"], 3) == ["b", "b", "b"]
    clock.advance(20)
    assert set(picks(router, ["a", "b"], 2)) == {"a", "b"}


# -- failover ----------------------------------------------------------------------------------


def test_failover_returns_the_next_entrys_answer(router):
    calls = []

    def call(entry):
        calls.append(entry)
        if entry == "a":
            raise Timeout()
        return f"answer from {entry}"

    assert router.invoke(POOL, ["a", "b", "c"], call) == ("b", "answer from b")
    assert calls == ["a", "b"]
    assert router.state(POOL, ["a", "b"])["a"].state == COOLING_DOWN


def test_a_bad_request_propagates_without_trying_other_entries(router):
    calls = []

    def call(entry):
        calls.append(entry)
        raise BadRequest("temperature must be <= 2")

    with pytest.raises(BadRequest):
        router.invoke(POOL, ["a", "b", "c"], call)
    assert calls == ["a"]
    assert router.state(POOL, ["a"])["a"].state == IN_ROTATION


def test_every_entry_failing_raises_pool_unavailable_with_the_earliest_retry(router):
    calls = []
    errors = {"a": RateLimited(retry_after=90), "b": Timeout(), "c": UpstreamError()}

    def call(entry):
        calls.append(entry)
        raise errors[entry]

    with pytest.raises(PoolUnavailable) as raised:
        router.invoke(POOL, ["a", "b", "c", "b"], call)
    assert calls == ["a", "b", "c"]  # each distinct entry once
    error = raised.value
    assert error.code == "pool_unavailable"
    assert error.retry_after == 10  # b and c come back first
    assert "all 3 entries are cooling down" in str(error)
    assert "Timed out" in str(error) and "retry in 10 s" in str(error)
    assert set(error.errors) == {"a", "b", "c"}
    assert error.as_dict()["retry_after"] == 10


def test_a_pool_of_failing_entries_gives_no_retry_time(router):
    def call(entry):
        raise AuthenticationFailed() if entry == "a" else QuotaExhausted()

    with pytest.raises(PoolUnavailable) as raised:
        router.invoke(POOL, ["a", "b"], call)
    assert raised.value.retry_after is None
    assert "all 2 entries are failing" in str(raised.value)
    # Later calls fail at once, without calling the provider.
    with pytest.raises(PoolUnavailable, match="all 2 entries are failing"):
        router.invoke(POOL, ["a", "b"], lambda entry: pytest.fail("no entry should be called"))


def test_a_pool_cooling_down_fails_at_once_without_waiting(router, clock):
    router.note_rate_limit(POOL, "a", remaining=0, reset_seconds=30)
    started = clock()
    with pytest.raises(PoolUnavailable, match="the entry is cooling down") as raised:
        router.invoke(POOL, ["a"], lambda entry: "never")
    assert raised.value.retry_after == 30
    assert clock() == started


def test_with_a_wait_the_call_waits_for_the_earliest_entry(make_router):
    router = make_router(clock=time.time, sleep=time.sleep, wait_seconds=1)
    router.note_rate_limit(POOL, "a", remaining=0, reset_seconds=0.3)
    started = time.monotonic()
    assert router.invoke(POOL, ["a"], lambda entry: "served") == ("a", "served")
    assert 0.25 <= time.monotonic() - started < 1


def test_the_wait_is_bounded_by_wait_seconds(make_router, clock):
    router = make_router(wait_seconds=5)
    router.note_rate_limit(POOL, "a", remaining=0, reset_seconds=30)
    with pytest.raises(PoolUnavailable):
        router.invoke(POOL, ["a"], lambda entry: "never")
    assert clock.now == FakeClock().now  # no point sleeping past the bound


# -- live pool view ----------------------------------------------------------------------------


def test_state_reports_each_entry(router, clock):
    router.pick(POOL, ["a"])
    fail(router, "b", RateLimited())
    fail(router, "c", AuthenticationFailed())
    fail(router, "d", Timeout())
    clock.advance(10)
    router.pick(POOL, ["d"])  # d's probe
    state = router.state(POOL, ["a", "b", "c", "d", "a"])
    assert list(state) == ["a", "b", "c", "d"]
    assert state["a"].state == IN_ROTATION and state["a"].weight == 2
    assert (state["b"].state, state["b"].until, state["b"].reason) == (
        COOLING_DOWN,
        clock() + 50,
        "rate_limited",
    )
    assert (state["c"].state, state["c"].reason, state["c"].until) == (
        FAILING,
        "authentication_failed",
        None,
    )
    assert (state["d"].state, state["d"].failures) == (PROBING, 1)


# -- Redis outages -----------------------------------------------------------------------------


def test_routing_continues_on_local_state_when_redis_is_down(caplog):
    caplog.set_level(logging.INFO, logger="balancing.routing")
    router = Router.from_url(DEAD_REDIS)
    assert picks(router, ["a", "b"], 50) == ["a", "b"] * 25
    assert router.mode == "local"
    fail(router, "a", Timeout())
    assert picks(router, ["a", "b"], 2) == ["b", "b"]
    switches = [r for r in caplog.records if r.name == "balancing.routing"]
    assert len(switches) == 1 and "process-local" in switches[0].getMessage()


def test_routing_returns_to_redis_when_it_comes_back(redis_url, clock, caplog):
    caplog.set_level(logging.INFO, logger="balancing.routing")
    real = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    router = Router.from_url(DEAD_REDIS.rsplit("/", 1)[0] + "/15", clock=clock, retry_seconds=5)
    assert router.pick(POOL, ["a", "b"]).entry_id == "a"
    assert router.mode == "local"

    # Redis "comes back": the same client now reaches the real server.
    pool = router.shared.client.connection_pool
    pool.connection_kwargs.update(host=real["host"], port=real["port"], db=real["db"])
    pool.reset()
    clock.advance(4)
    router.pick(POOL, ["a", "b"])
    assert router.mode == "local"  # not retried before the interval
    clock.advance(1)
    assert router.pick(POOL, ["a", "b"]).entry_id == "a"  # Redis's own rotation starts afresh
    assert router.mode == "shared"
    assert picks(router, ["a", "b"], 20)
    messages = [r.getMessage() for r in caplog.records if r.name == "balancing.routing"]
    assert len(messages) == 2 and "back" in messages[1]
    assert Router.from_url(redis_url).pick(POOL, ["a", "b"]).entry_id == "b"


# -- measurement -------------------------------------------------------------------------------


@pytest.mark.benchmark
def test_pick_throughput(make_router):
    """Prints picks per second on the backend; asserts only that rotation stayed fair."""
    router = make_router(clock=time.time)
    runs = 5000
    started = time.perf_counter()
    chosen = Counter(picks(router, ["a", "b", "c", "d"], runs))
    elapsed = time.perf_counter() - started
    print(f"\n{router.mode} pick: {runs / elapsed:,.0f}/s, {elapsed / runs * 1e6:.1f} µs per pick")
    assert set(chosen.values()) == {runs // 4}
