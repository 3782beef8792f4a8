"""Rate limits per visitor and per client (API key, or IP for browsers).

The client's IP is ``REMOTE_ADDR`` unless ``PERSONALIZATION_NUM_PROXIES`` says how many reverse
proxies of our own stand in front of the site: only then is ``X-Forwarded-For`` read, and only the
address the outermost of our proxies saw. Anything further left was written by the client, so
trusting it would let anyone lift the limit by varying the header.
"""

from __future__ import annotations

import logging
import time

from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from ...conf import get_setting
from ...profiles.identity import parse_visitor_token
from ...visitor_cache import (
    CACHE_ERRORS,
    cache,
    cache_failed,
    cache_in_outage,
    cache_is_down,
    count_now,
    count_on_next_read,
    counted_on_read,
    forget_counters,
    throttle_key,
)
from .authentication import ApiClient

logger = logging.getLogger(__name__)


_last_warning = [0.0]


def _fail_open() -> bool:
    """Let the request through while the throttle's cache is down, saying so once a minute:
    refusing every caller would turn an outage of a helper into an outage of the site."""
    if time.monotonic() - _last_warning[0] > 60:
        _last_warning[0] = time.monotonic()
        logger.warning("Rate limits not enforced while the throttle cache is unavailable")
    return True


PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` -> (600, 60): DRF's notation (the period's first letter counts)."""
    number, period = rate.split("/")
    return int(number), PERIODS[period[0]]


class RequestRateThrottle(BaseThrottle):
    """Every limit a request falls under (its visitor's, and its API key's or IP's), checked in
    one cache round trip.

    Each limit is a sliding-window estimate over two fixed windows (the previous window's count
    weighted by how much of it still overlaps the last ``duration`` seconds, plus the current
    window's), kept as a small hash per key. DRF's own throttles keep a list of every request's
    timestamp per key and read and rewrite it on each call: two round trips per scope and, for
    an API key at 12,000/min, a 12,000-entry list pickled per request. Refused requests count
    too, so a client that keeps hammering stays refused rather than slipping through at the limit.
    """

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view):
        limits = [limit for limit in (visitor_limit(request), client_limit(request)) if limit]
        if not limits:
            return True
        if cache_is_down():
            return _fail_open()
        now = time.time()
        if getattr(view, "limits_counted_on_read", False) and count_on_next_read(
            *_counters(limits, now)
        ):
            # The view's hot read counts them in its round trip, and enforce_counted_limits
            # refuses right after it, before the view has any effect.
            request._pz_counted_limits = (limits, now)
            return True
        try:
            estimates = _count(limits, now)
        except CACHE_ERRORS as exc:  # a plain RedisCache raises; FailSoftRedisCache misses
            cache_failed(exc)
            return _fail_open()
        if cache_in_outage():
            return _fail_open()
        self._wait = _refusal(limits, estimates, now)
        return self._wait is None

    def wait(self):
        return self._wait


def _refusal(limits, estimates: list[float], now: float) -> float | None:
    """Seconds to wait when an estimate is over its limit, else None."""
    for (_key, allowed, duration), estimate in zip(limits, estimates, strict=True):
        if estimate > allowed:
            return duration - (now % duration)
    return None


def enforce_counted_limits(request) -> None:
    """Right after the hot read of a view with ``limits_counted_on_read``: a 429 (with
    ``Retry-After``) if the counts the read brought back are over a limit. A read that could
    not carry them (the cache failed) lets the request through, as the throttle does."""
    deferred = getattr(request, "_pz_counted_limits", None)
    pairs = counted_on_read()
    if deferred is None or pairs is None:
        return
    request._pz_counted_limits = None
    limits, now = deferred
    wait = _refusal(limits, _estimates(pairs, limits, now), now)
    if wait is not None:
        raise Throttled(wait=wait)


def settle_counted_limits(request) -> None:
    """End of a view with ``limits_counted_on_read``: a request that ended before its read (a
    400, a 403) is counted now, in a round trip of its own, so that bad requests count too."""
    deferred = getattr(request, "_pz_counted_limits", None)
    if deferred is None:
        return
    request._pz_counted_limits = None
    if not forget_counters():
        # Counted by a read that nothing checked: a view with limits_counted_on_read that does
        # not call enforce_counted_limits after it (a bug: its limits are never enforced).
        logger.error("%s counts rate limits on its read but never enforces them", request.path)
        return
    try:
        _count(*deferred)
    except CACHE_ERRORS as exc:
        cache_failed(exc)


def _limit(scope: str, key: str | None) -> tuple[str, int, int] | None:
    rate = get_setting("THROTTLE_RATES").get(scope)
    if rate is None or key is None:
        return None
    allowed, duration = parse_rate(rate)
    return key, allowed, duration


def visitor_limit(request):
    if "visitor" not in get_setting("THROTTLE_RATES"):
        return None  # no limit per visitor: the token need not be read
    token = request.headers.get(get_setting("VISITOR_HEADER")) or request.COOKIES.get(
        get_setting("COOKIE_NAME")
    )
    if not token and isinstance(getattr(request, "data", None), dict):
        token = request.data.get("visitor_id")
    visitor_id = parse_visitor_token(token) if isinstance(token, str) and token else None
    return _limit("visitor", throttle_key(visitor_id) if visitor_id is not None else None)


def client_limit(request):
    if isinstance(request.auth, ApiClient):
        return _limit("client", f"personalization:throttle:client:{request.auth.name}")
    return _limit("anonymous", f"personalization:throttle:ip:{client_ip(request)}")


def _counters(limits, now: float) -> tuple[list[str], list[int], list[int]]:
    """Each limit's counter: its key, the fixed window ``now`` falls in, and how long the
    counter must outlive that window (the next window still reads it)."""
    return (
        [key for key, _allowed, _duration in limits],
        [int(now // duration) for _key, _allowed, duration in limits],
        [2 * duration for _key, _allowed, duration in limits],
    )


def _count(limits, now: float) -> list[float]:
    """Add this request to each limit's current window; the sliding estimates, in order."""
    keys, windows, ttls = _counters(limits, now)
    pairs = count_now(keys, windows, ttls)
    if pairs is None:
        # Another cache backend (development): not atomic, which a single process needs not.
        store = cache()
        pairs = []
        for key, window, ttl in zip(keys, windows, ttls, strict=True):
            counts = store.get(key) or {}
            current = counts.get(window, 0) + 1
            store.set(key, {window: current, window - 1: counts.get(window - 1, 0)}, ttl)
            pairs.append((current, counts.get(window - 1, 0)))
    return _estimates(pairs, limits, now)


def _estimates(pairs, limits, now: float) -> list[float]:
    """Sliding-window estimates from each limit's (current, previous) window counts."""
    estimates = []
    for (current, previous), (_key, _allowed, duration) in zip(pairs, limits, strict=True):
        overlap = 1.0 - (now % duration) / duration
        estimates.append(current + previous * overlap)
    return estimates


def client_ip(request) -> str:
    """The address of the client as seen by the first proxy we trust (or by us, with none)."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = get_setting("NUM_PROXIES")
    if not proxies:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if not forwarded:
        return remote
    # Each of our N proxies appended the address it received from: the N-th from the right was
    # written by our outermost proxy. A shorter list means the request bypassed a proxy.
    return forwarded[-min(proxies, len(forwarded))]
