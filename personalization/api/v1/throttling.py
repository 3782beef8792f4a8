"""Rate limits per visitor and per client (API key, or IP for browsers).

The client's IP is ``REMOTE_ADDR`` unless ``PERSONALIZATION_NUM_PROXIES`` says how many reverse
proxies of our own stand in front of the site: only then is ``X-Forwarded-For`` read, and only the
address the outermost of our proxies saw. Anything further left was written by the client, so
trusting it would let anyone lift the limit by varying the header.
"""

from __future__ import annotations

import logging
import time

from rest_framework.throttling import SimpleRateThrottle

from ...conf import get_setting
from ...profiles.identity import parse_visitor_token
from ...visitor_cache import (
    CACHE_ERRORS,
    cache_failed,
    cache_in_outage,
    cache_is_down,
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


class _ConfiguredRateThrottle(SimpleRateThrottle):
    """Reads its rate from PERSONALIZATION_THROTTLE_RATES on each request."""

    def __init__(self) -> None:  # the parent resolves the rate at construction; so do we
        pass

    def allow_request(self, request, view):
        self.rate = get_setting("THROTTLE_RATES").get(self.scope_for(request))
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if cache_is_down():
            return _fail_open()
        try:
            allowed = super().allow_request(request, view)
        except CACHE_ERRORS as exc:  # a plain RedisCache raises; FailSoftRedisCache misses
            cache_failed(exc)
            return _fail_open()
        return _fail_open() if cache_in_outage() else allowed

    def scope_for(self, request) -> str:
        return self.scope


class VisitorRateThrottle(_ConfiguredRateThrottle):
    scope = "visitor"

    def get_cache_key(self, request, view):
        token = request.headers.get(get_setting("VISITOR_HEADER")) or request.COOKIES.get(
            get_setting("COOKIE_NAME")
        )
        if not token and isinstance(getattr(request, "data", None), dict):
            token = request.data.get("visitor_id")
        visitor_id = parse_visitor_token(token) if token else None
        if visitor_id is None:
            return None
        return throttle_key(visitor_id)


class ClientRateThrottle(_ConfiguredRateThrottle):
    def scope_for(self, request) -> str:
        return "client" if isinstance(request.auth, ApiClient) else "anonymous"

    def get_ident(self, request) -> str:
        return client_ip(request)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiClient):
            return f"personalization:throttle:client:{request.auth.name}"
        return f"personalization:throttle:ip:{self.get_ident(request)}"


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
