"""Who is this request, and what does it tell us: the HTTP edge of identity.

Reads the signed cookie (server-rendered sites) or ``X-Visitor-Id`` header (headless clients);
a logged-in user is always their own profile. Nothing here writes a session, and a cookie is
only set once the visitor has an id worth remembering (after consent or tracking).
"""

from __future__ import annotations

import uuid
import zoneinfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.functional import LazyObject, empty

from .conf import get_setting
from .profiles.identity import (
    claim_for_user,
    new_visitor_id,
    parse_raw_visitor_id,
    parse_visitor_token,
    sign_visitor_id,
    visitor_id_for_user,
)
from .profiles.snapshot import ProfileSnapshot
from .types import RequestContext

_UNSET = object()


def _header(request: HttpRequest, name: str) -> str:
    return request.headers.get(name, "") or ""


def request_context(request: HttpRequest) -> RequestContext:
    """The visitor's context from headers: device, location from the CDN, language, referrer."""
    cached = getattr(request, "_pz_context", None)
    if cached is not None:
        return cached
    country = next(
        (v for h in get_setting("COUNTRY_HEADERS") if (v := _header(request, h))), ""
    ).upper()[:8]
    region = next(
        (v for h in get_setting("REGION_HEADERS") if (v := _header(request, h))), ""
    ).upper()[:16]
    if country in {"XX", "T1"}:  # Cloudflare: unknown / Tor
        country = ""
    language = _header(request, "Accept-Language").split(",")[0].split(";")[0].strip()[:16]
    context = RequestContext.from_user_agent(
        _header(request, "User-Agent")[:512],
        country=country,
        region=region,
        language=language.lower(),
        referrer=_header(request, "Referer")[:500],
        url=request.build_absolute_uri()[:500],
        dnt=_header(request, "DNT") == "1",
        gpc=_header(request, "Sec-GPC") == "1",
    )
    request._pz_context = context
    return context


def has_session_cookie(request: HttpRequest) -> bool:
    return settings.SESSION_COOKIE_NAME in request.COOKIES


def site_user(request: HttpRequest):
    """The user logged in to the site (not the API caller DRF authenticated).

    A request without a session cookie is anonymous: we answer None without resolving the lazy
    ``request.user``, because resolving it reads the session and makes Django add
    ``Vary: Cookie``, which would give every visitor their own copy in shared caches.
    """
    user = getattr(request, "_pz_site_user", None) or getattr(request, "user", None)
    if isinstance(user, LazyObject) and user._wrapped is empty and not has_session_cookie(request):
        return None
    return user


def user_facts(request: HttpRequest) -> tuple[bool, frozenset[str]]:
    """(logged in, group names) of the site user, for the logged_in / user_group conditions."""
    user = site_user(request)
    if user is None or not user.is_authenticated:
        return False, frozenset()
    return True, frozenset(user.groups.values_list("name", flat=True))


def may_use_profile(request: HttpRequest, snapshot: ProfileSnapshot) -> bool:
    """Whether the browser may use the profile its token reached (``snapshot``, resolved through
    aliases): an anonymous one, yes; an account's, only with that account's session. So a token
    minted before login (or a cookie outliving its session) is no key to the account."""
    if snapshot.user_id is None:
        return True
    user = site_user(request)
    return bool(user is not None and user.is_authenticated and user.pk == snapshot.user_id)


class ForgedVisitorId(ValueError):
    """An explicitly named visitor id (body or header) is not a valid token; ``source`` says
    where it came from, for a 400 naming the field."""

    def __init__(self, source: str):
        super().__init__(f"{source}: invalid or forged visitor id")
        self.source = source


BODY_FIELD = "visitor_id"
IMPLICIT = "cookie"  # the source of steps 3 and 4 (the browser's own session and cookie)


def resolve_visitor_id(
    request: HttpRequest,
    *,
    body_value: object = None,
    trusted: bool = False,
    strict: bool = False,
) -> tuple[uuid.UUID | None, str]:
    """The visitor a request is about, and where the id came from. The one order, everywhere
    (pages, template tags, API): an id the caller names beats the one the browser carries.

    1. ``body_value``: the ``visitor_id`` field of an API call's body;
    2. the ``X-Visitor-Id`` header (``PERSONALIZATION_VISITOR_HEADER``);
    3. the logged-in site user's own profile;
    4. the signed id cookie.

    1 and 2 are signed tokens; a trusted caller (API key) may give a bare UUID and never falls
    through to 3 and 4 (it has no browser session). An invalid explicit id raises
    ``ForgedVisitorId`` when ``strict`` (the API answers 400) and is skipped otherwise (a page
    still renders). Returns ``(None, "")`` for a visitor without an id.
    """
    header_name = get_setting("VISITOR_HEADER")
    parse = parse_raw_visitor_id if trusted else parse_visitor_token
    for source, value in (
        (BODY_FIELD, body_value),
        (header_name, request.headers.get(header_name)),
    ):
        if value in (None, ""):
            continue
        visitor_id = parse(value) if isinstance(value, str) else None
        if visitor_id is not None:
            return visitor_id, source
        if strict:
            raise ForgedVisitorId(source)
    if trusted:
        return None, ""
    visitor_id = visitor_id_from_request(request)
    return visitor_id, IMPLICIT if visitor_id is not None else ""


def visitor_id_from_request(request: HttpRequest) -> uuid.UUID | None:
    """Steps 3 and 4 of ``resolve_visitor_id`` (login, then cookie): the id the browser itself
    carries, or None if it has none yet (or sent a forged one). Server-side capture records
    under this id only: a header names someone to read, not whose browser this is."""
    cached = getattr(request, "_pz_visitor_id", _UNSET)
    if cached is not _UNSET:
        return cached
    visitor_id = None
    user = site_user(request)
    if user is not None and user.is_authenticated:
        visitor_id = visitor_id_for_user(user)
    if visitor_id is None:
        token = request.COOKIES.get(get_setting("COOKIE_NAME"))
        if token:
            visitor_id = parse_visitor_token(token)
            if visitor_id is None:
                request._pz_drop_cookie = True
    request._pz_visitor_id = visitor_id
    return visitor_id


def remember_visitor(request: HttpRequest, visitor_id: uuid.UUID) -> None:
    """Use this id for the rest of the request and set the cookie on the response."""
    request._pz_visitor_id = visitor_id
    request._pz_set_cookie = visitor_id


def ensure_visitor_id(request: HttpRequest) -> uuid.UUID:
    """The visitor's id, minting one (and its cookie) if they have none.

    A logged-in user who gets a new id has it claimed for their account at once, so what they
    do from now on is theirs on every device.
    """
    visitor_id = visitor_id_from_request(request)
    if visitor_id is None:
        visitor_id = new_visitor_id()
        remember_visitor(request, visitor_id)
        user = site_user(request)
        if user is not None and user.is_authenticated:
            claim_for_user(visitor_id, user)
    return visitor_id


def apply_visitor_cookie(request: HttpRequest, response: HttpResponse) -> None:
    """Write or drop the id cookie, as the request decided.

    A response that carries someone's id cookie is theirs alone: it is marked private so no
    shared cache ever hands that cookie to another visitor.
    """
    name = get_setting("COOKIE_NAME")
    visitor_id = getattr(request, "_pz_set_cookie", None)
    if visitor_id is not None or getattr(request, "_pz_drop_cookie", False):
        patch_cache_control(response, private=True)
    if visitor_id is not None:
        response.set_cookie(
            name,
            sign_visitor_id(visitor_id),
            max_age=get_setting("COOKIE_MAX_AGE"),
            secure=get_setting("COOKIE_SECURE") or request.is_secure(),
            httponly=True,
            samesite=get_setting("COOKIE_SAMESITE"),
        )
    elif getattr(request, "_pz_drop_cookie", False):
        response.delete_cookie(name, samesite=get_setting("COOKIE_SAMESITE"))


def forget_visitor(request: HttpRequest) -> None:
    """Drop the id cookie (on logout): what follows is a new, anonymous visitor."""
    request._pz_visitor_id = None
    request._pz_set_cookie = None
    request._pz_drop_cookie = True


def known_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this server knows, else ""."""
    if not name or len(name) > 64:
        return ""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return ""
    return name


def visitor_timezone(request: HttpRequest) -> str:
    """The visitor's time zone from the cookie tracker.js sets (``TIMEZONE_COOKIE``), or ""
    (conditions then use the site's ``TIME_ZONE``). An unknown name is ignored; a forged one can
    only pick among real zones, as the visitor could by changing their computer's clock."""
    return known_timezone(request.COOKIES.get(get_setting("TIMEZONE_COOKIE"), ""))
