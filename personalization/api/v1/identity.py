"""Finding the visitor an API call is about, from body, header, cookie or login.

A visitor token is a key to an anonymous history. Once the profile it names belongs to an account
(the visitor logged in and their profile was handed to, or merged into, the user's), the token no
longer grants anything on its own: reading, exporting, erasing or adding to an account's data
needs that account's session or the secret API key. The old anonymous id resolves to nothing.
"""

from __future__ import annotations

import dataclasses
import uuid
import zoneinfo
from collections.abc import Callable, Sequence

from rest_framework.exceptions import PermissionDenied, ValidationError

from ...context import VisitorContext, build_visitor_context, versions_snapshot_and
from ...profiles.identity import sign_visitor_id
from ...profiles.snapshot import ProfileSnapshot, get_snapshot
from ...types import RequestContext
from ...visitors import (
    IMPLICIT,
    ForgedVisitorId,
    ensure_visitor_id,
    forget_visitor,
    may_use_profile,
    request_context,
    resolve_visitor_id,
    user_facts,
    visitor_timezone,
)
from .authentication import is_api_client
from .throttling import enforce_counted_limits

ACCOUNT_ID_REFUSED = (
    "This visitor id now belongs to an account: sign in to use it (a token minted before "
    "login grants nothing after it)."
)


def resolve_visitor(request, body_value: object = None) -> uuid.UUID | None:
    """The visitor id of this call, or None if the caller has none yet, in the one order of
    ``visitors.resolve_visitor_id``: body ``visitor_id``, ``X-Visitor-Id`` header, login, cookie.

    An explicit id must be a valid signed token; API clients may also pass a bare UUID (and have
    no login or cookie to fall back on). A forged one is a 400 naming where it came from. Where
    the id came from is kept on the request for ``usable_snapshot``.
    """
    try:
        visitor_id, source = resolve_visitor_id(
            request._request, body_value=body_value, trusted=is_api_client(request), strict=True
        )
    except ForgedVisitorId as exc:
        raise ValidationError({exc.source: ["Invalid or forged visitor id."]}) from None
    if source:
        request._pz_id_source = source
    elif not is_api_client(request):
        request._pz_id_source = IMPLICIT
    return visitor_id


def may_act_for(request, snapshot: ProfileSnapshot) -> bool:
    """Whether this caller may use the profile of ``snapshot`` (already resolved through aliases):
    any anonymous profile for its token holder, an account's only for that account's session,
    and every profile for an API client."""
    return is_api_client(request) or may_use_profile(request._request, snapshot)


def usable_snapshot(
    request, visitor_id: uuid.UUID | None, *, snapshot: ProfileSnapshot | None = None
) -> tuple[uuid.UUID | None, ProfileSnapshot | None]:
    """``(visitor id, snapshot)`` the caller may use, after ``resolve_visitor``.

    An id that reached an account's profile without its session is refused: a 403 naming the
    field for an explicit token; a stale cookie is dropped instead, so the browser carries on as
    a new anonymous visitor. One cache round trip (the snapshot the caller needs anyway).
    """
    if visitor_id is None:
        return None, None
    if snapshot is None:
        snapshot = get_snapshot(visitor_id)
    if may_act_for(request, snapshot):
        return visitor_id, snapshot
    source = getattr(request, "_pz_id_source", "cookie")
    if source == "cookie":
        forget_visitor(request._request)
        return None, None
    raise PermissionDenied({source: [ACCOUNT_ID_REFUSED]})


def mint_visitor(request) -> uuid.UUID:
    """A new id: the browser gets it as a cookie, headless clients read ``visitor_token``."""
    return ensure_visitor_id(request._request)


def visitor_token(visitor_id: uuid.UUID | None) -> str | None:
    return sign_visitor_id(visitor_id) if visitor_id else None


def api_visitor_context(
    request, visitor_id: uuid.UUID | None, context: RequestContext, *, timezone_name: str = ""
) -> VisitorContext:
    """The visitor context of an API request (decide, recommendations), after ``resolve_visitor``.

    Versions and snapshot come in one cache round trip; the snapshot also says whose profile the
    token reaches, so a token that reaches an account's profile without its session is refused
    (explicit token) or dropped (stale cookie) exactly as ``usable_snapshot`` says. API-key
    clients speak for a visitor, not for a logged-in user.
    """
    visitor, _ = api_visitor_context_and(
        request, visitor_id, context, (), timezone_name=timezone_name
    )
    return visitor


def api_visitor_context_and(
    request,
    visitor_id: uuid.UUID | None,
    context: RequestContext,
    also: Sequence[str],
    *,
    timezone_name: str = "",
    reads_segments: Callable[[dict], bool] | None = None,
) -> tuple[VisitorContext, dict]:
    """``api_visitor_context``, plus the cache keys ``also`` (those found) read in the same
    round trip as versions and snapshot. ``reads_segments(found)`` says whether the caller's
    decision will read the visitor's segments: when it says no, none is evaluated."""
    version_pair, snapshot, found = versions_snapshot_and(visitor_id, also)
    enforce_counted_limits(request)  # the read counted this request: a 429 before any effect
    visitor_id, _ = usable_snapshot(request, visitor_id, snapshot=snapshot)
    authenticated, groups = (
        (False, frozenset()) if is_api_client(request) else user_facts(request._request)
    )
    visitor = build_visitor_context(
        visitor_id,
        context,
        version_pair=version_pair,
        snapshot=snapshot if visitor_id is not None else None,
        # A browser calling the API sends the tracker's time zone cookie; a body's zone wins.
        timezone_name=timezone_name or visitor_timezone(request._request),
        is_authenticated=authenticated,
        user_groups=groups,
        with_segments=reads_segments is None or reads_segments(found),
    )
    return visitor, found


def request_context_for(request, body_context: dict) -> RequestContext:
    """Headers describe a browser caller; API clients relay their visitor's context in the body."""
    base = request_context(request._request)
    fields = {k: v for k, v in body_context.items() if k in {"url", "referrer"}}
    if is_api_client(request):
        user_agent = body_context.get("user_agent", "")
        relayed = RequestContext.from_user_agent(
            user_agent,
            country=body_context.get("country", "").upper(),
            region=body_context.get("region", "").upper(),
            language=body_context.get("language", "").lower(),
            referrer=body_context.get("referrer", ""),
            url=body_context.get("url", ""),
            dnt=body_context.get("dnt", False),
            gpc=body_context.get("gpc", False),
        )
        # A caller holding the secret key is the site's own server: it decided to send these
        # events, whatever user agent it relays (or none, from curl), so it is never a bot.
        return dataclasses.replace(relayed, is_bot=False)
    if "language" in body_context and not base.language:
        fields["language"] = body_context["language"].lower()
    return dataclasses.replace(base, **fields)


def timezone_param(value: str) -> str:
    """A ``timezone`` the caller sent: an IANA name, or "" for none; else a 400 naming it."""
    if not value:
        return ""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"timezone": ["Unknown time zone (use an IANA name)."]}) from None
    return value
