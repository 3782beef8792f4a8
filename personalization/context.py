"""One visitor context per request: who the visitor is, their segments, and the cache key.

Template tags, StreamField blocks, the pages API and the decide API all read the same memoised
``VisitorContext``, so rendering twenty personalized blocks costs what rendering one does: two
cache round trips (definition versions, then the profile snapshot) and no query on a warm cache.

The segment key is what shared caches vary on: ``<version tag>.<set>.<mac>``. The set part is
an HMAC of the definition versions and the visitor's segment set (identical for every visitor in
the same segments, and saying nothing about which they are); the mac signs tag and set, and is
verified (in constant time) before a key is used to look up a cached copy, so only keys this
site issued are honoured. A key is useless once a segment, variant or snippet changes: the
version tag no longer matches, so the stale key is ignored rather than served from cache.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .conf import get_setting
from .consent.services import may_collect_events
from .profiles.snapshot import ProfileSnapshot, get_snapshot, snapshot_keys
from .registry import assigners
from .segments.services import VERSION_KEY as SEGMENTS_VERSION_KEY
from .segments.services import compiled_segments, visitor_segments, visitor_snapshot
from .types import ArmAssignment, RequestContext
from .visitor_cache import bump_version_token, read_many, version_tokens
from .visitors import (
    forget_visitor,
    has_session_cookie,
    may_use_profile,
    request_context,
    resolve_visitor_id,
    site_user,
    user_facts,
    visitor_timezone,
)

CONTENT_VERSION_KEY = "personalization:content:version"


@dataclass(frozen=True)
class VisitorContext:
    """What rendering needs to know about the visitor in this request; decided once, then no I/O."""

    visitor_id: uuid.UUID | None
    segments: tuple[str, ...]
    key: str
    now: datetime = field(default_factory=timezone.now)
    preview: bool = False
    collects_events: bool = False  # consent to record what the visitor was shown
    versions: tuple[str, str] = ("", "")  # (segment definitions, content) this was decided on
    # Running experiments the visitor takes part in (their arms are part of ``key``).
    arms: tuple[ArmAssignment, ...] = ()
    canonical_id: uuid.UUID | None = None  # the profile's id when visitor_id was merged into it

    def arm_for(self, placement: str) -> tuple[ArmAssignment, str] | None:
        """The experiment arm that decides this placement and the variant id it shows."""
        for arm in self.arms:
            variant_id = arm.variant_for(placement)
            if variant_id is not None:
                return arm, variant_id
        return None

    def in_any(self, slugs) -> bool:
        return any(slug in self.segments for slug in slugs)

    def in_all(self, slugs) -> bool:
        slugs = list(slugs)
        return bool(slugs) and all(slug in self.segments for slug in slugs)


# -- versions ---------------------------------------------------------------------------------


def versions() -> tuple[str, str]:
    """(segment definitions version, content version): one cache round trip."""
    segments_version, content_version = version_tokens(SEGMENTS_VERSION_KEY, CONTENT_VERSION_KEY)
    return segments_version, content_version


def versions_and_snapshot(
    visitor_id: uuid.UUID | None,
) -> tuple[tuple[str, str], ProfileSnapshot]:
    """The versions and the visitor's snapshot in one cache round trip (which also carries the
    buffer rows this thread deferred: ``visitor_cache.read_many``)."""
    version_pair, snapshot, _ = versions_snapshot_and(visitor_id, ())
    return version_pair, snapshot


def versions_snapshot_and(
    visitor_id: uuid.UUID | None, also: Sequence[str]
) -> tuple[tuple[str, str], ProfileSnapshot, dict]:
    """``versions_and_snapshot``, plus the values of the cache keys ``also`` (a dict of those
    found) read in the same round trip: an endpoint that needs its own keys (the
    recommendations' stored lists) keeps to one round trip per call."""
    keys = [SEGMENTS_VERSION_KEY, CONTENT_VERSION_KEY]
    found = read_many(keys + (snapshot_keys(visitor_id) if visitor_id else []) + list(also))
    segments_version, content_version = version_tokens(*keys, found=found)
    snapshot = get_snapshot(visitor_id, found=found) if visitor_id else visitor_snapshot(None)
    extra = {key: found[key] for key in also if key in found}
    return (segments_version, content_version), snapshot, extra


def bump_content_version() -> None:
    """A snippet, variant or page changed: every segment key changes, so every shared-cache
    copy keyed on an old one stops being served. No flush; old entries simply expire."""
    bump_version_token(CONTENT_VERSION_KEY)


def _version_tag(segment_version: str, content_version: str) -> str:
    digest = hashlib.blake2s(f"{segment_version}|{content_version}".encode(), digest_size=4)
    return digest.hexdigest()


def _key_mac(tag: str, segment_set: str) -> str:
    payload = f"{tag}.{segment_set}"
    mac = salted_hmac("personalization.segment-key.mac", payload, algorithm="sha256")
    return mac.hexdigest()[:16]


def segment_key(
    segments, *, known: bool, version_pair: tuple[str, str], arms: tuple[ArmAssignment, ...] = ()
) -> str:
    """The compact key for a segment set: ``<version tag>.<set>.<mac>`` (42 characters).

    ``known`` says whether the visitor has an id (has answered the consent banner), because
    pages commonly differ on that too. Experiment arms are part of it, so a shared cache keeps
    one copy per (segments, arms) combination and never shows one arm's page to another arm.
    """
    tag = _version_tag(*version_pair)
    cells = ",".join(sorted(f"{a.experiment}:{a.arm}" for a in arms))
    payload = f"{tag}|{int(known)}|{','.join(sorted(segments))}"
    if cells:
        payload += f"|{cells}"
    digest = salted_hmac("personalization.segment-key", payload, algorithm="sha256").hexdigest()
    segment_set = digest[:16]
    return f"{tag}.{segment_set}.{_key_mac(tag, segment_set)}"


def key_is_current(key: str, version_pair: tuple[str, str]) -> bool:
    """Whether a presented key was issued by this site for the current versions: the tag must
    match and the mac verify, compared in constant time."""
    if len(key) > 64:
        return False
    tag, _, rest = key.partition(".")
    segment_set, _, mac = rest.partition(".")
    if tag != _version_tag(*version_pair) or not segment_set or not mac:
        return False
    return hmac.compare_digest(mac.encode(), _key_mac(tag, segment_set).encode())


# -- the per-request context ------------------------------------------------------------------


def request_versions(request: HttpRequest) -> tuple[str, str]:
    cached = getattr(request, "_pz_versions", None)
    if cached is None:
        cached = request._pz_versions = versions()
    return cached


def visitor_id_for(request: HttpRequest) -> uuid.UUID | None:
    """The visitor a page is rendered for, in ``resolve_visitor_id``'s order: headless callers
    (a frontend calling the pages API from its server) name the visitor with a signed
    ``X-Visitor-Id`` header; otherwise login, then cookie."""
    return resolve_visitor_id(request)[0]


def preview_segments(request: HttpRequest) -> tuple[str, ...] | None:
    """Segments a staff member asked to see the page as, or None outside a preview.

    Wagtail's preview modes set ``request._pz_preview_segments``; on the live site the
    ``?pz_preview=slug,slug`` parameter does the same for users with the preview permission.
    Unknown slugs are ignored. Only logged-in users can preview, so anonymous pages never vary
    on the parameter.
    """
    chosen = getattr(request, "_pz_preview_segments", None)
    if chosen is None:
        raw = request.GET.get(get_setting("PREVIEW_PARAM"))
        if raw is None or not has_session_cookie(request):
            return None
        user = site_user(request)
        if user is None or not user.has_perm(get_setting("PREVIEW_PERMISSION")):
            return None
        chosen = [slug.strip() for slug in raw.split(",") if slug.strip()]
    known = {segment.slug for segment in compiled_segments()}
    return tuple(slug for slug in chosen if slug in known)


def build_visitor_context(
    visitor_id: uuid.UUID | None,
    request: RequestContext,
    *,
    version_pair: tuple[str, str] | None = None,
    snapshot: ProfileSnapshot | None = None,
    timezone_name: str = "",
    is_authenticated: bool = False,
    user_groups: frozenset[str] = frozenset(),
    with_segments: bool = True,
) -> VisitorContext:
    """The context for a visitor described by plain values (the decide API's path).

    Without a ``version_pair`` already read, versions and snapshot come in one round trip; a
    caller that read both passes them. ``with_segments=False`` is for a decision that reads no
    segment (recommendations whose popular lists are not split by segment): no rule is
    evaluated and no experiment assigned, and the key is empty, so that no shared cache can be
    keyed on the context by mistake.
    """
    if version_pair is None:
        version_pair, snapshot = versions_and_snapshot(visitor_id)
    elif snapshot is None:
        snapshot = visitor_snapshot(visitor_id)
    collects_events = may_collect_events(snapshot.consent, dnt=request.dnt, gpc=request.gpc)
    canonical_id = snapshot.visitor_id if visitor_id is not None else None
    if not with_segments:
        return VisitorContext(
            visitor_id=visitor_id,
            segments=(),
            key="",
            versions=version_pair,
            collects_events=collects_events,
            canonical_id=canonical_id,
        )
    segments = visitor_segments(
        visitor_id,
        request=request,
        timezone_name=timezone_name,
        is_authenticated=is_authenticated,
        user_groups=user_groups,
        version=version_pair[0],
        snapshot=snapshot,
    )
    now = timezone.now()
    arms: tuple[ArmAssignment, ...] = ()
    if visitor_id is not None:
        # The profile's canonical id: a visitor keeps their arm when an alias id is merged.
        for assigner in assigners():
            arms += assigner(snapshot.visitor_id, segments, request, snapshot, now, version_pair[1])
    return VisitorContext(
        visitor_id=visitor_id,
        segments=tuple(segments),
        key=segment_key(
            segments, known=visitor_id is not None, version_pair=version_pair, arms=arms
        ),
        now=now,
        versions=version_pair,
        collects_events=collects_events,
        arms=arms,
        canonical_id=canonical_id,
    )


def newcomer_key(request: HttpRequest) -> str:
    """The segment key of a request from a visitor without any id yet (no visitor cookie, no
    visitor header, no session): what a new visitor's page will be keyed on, computed before
    the view runs so that their very first request can be served from a shared cache without
    being handed a ``pz_seg`` cookie (they have not answered the consent banner). Nothing is
    memoised: should the request mint an id, the page is decided afresh."""
    return build_visitor_context(
        None, request_context(request), version_pair=request_versions(request)
    ).key


def visitor_context(request: HttpRequest | None) -> VisitorContext:
    """The memoised context of this request (an anonymous, segment-less one without a request)."""
    if request is None:
        return VisitorContext(visitor_id=None, segments=(), key="")
    request = getattr(request, "_request", request)  # DRF wraps the Django request
    cached = getattr(request, "_pz_visitor_context", None)
    if cached is not None:
        return cached
    previewed = preview_segments(request)
    if previewed is not None:
        version_pair = request_versions(request)
        context = VisitorContext(
            visitor_id=None,
            segments=previewed,
            key=segment_key(previewed, known=True, version_pair=version_pair),
            preview=True,
            versions=version_pair,
        )
    else:
        authenticated, groups = user_facts(request)
        visitor_id = visitor_id_for(request)
        version_pair = getattr(request, "_pz_versions", None)
        if version_pair is None:
            version_pair, snapshot = versions_and_snapshot(visitor_id)
        else:
            snapshot = visitor_snapshot(visitor_id)
        if visitor_id is not None and not may_use_profile(request, snapshot):
            # A token of an account's profile without its session: an anonymous page, and the
            # stale cookie goes.
            forget_visitor(request)
            visitor_id, snapshot = None, None
        context = build_visitor_context(
            visitor_id,
            request_context(request),
            version_pair=version_pair,
            snapshot=snapshot,
            timezone_name=visitor_timezone(request),
            is_authenticated=authenticated,
            user_groups=groups,
        )
    request._pz_versions = context.versions
    request._pz_visitor_context = context
    return context


def context_was_used(request: HttpRequest) -> VisitorContext | None:
    return getattr(request, "_pz_visitor_context", None)
