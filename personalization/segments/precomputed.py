"""Profile-only segments are decided when the profile changes, not on every request.

A segment whose conditions all read the stored profile (counts in windows, traits, visits,
consent, scores, personas, samples; no request condition and no reference to another segment)
gives the same answer on every request until the profile changes or a window closes. So its
result is computed when the snapshot is cached (after a fold, a traits or consent change, or a
cache miss) and stored in the snapshot, with the definitions version it was computed for and the
first instant a window could change it. A request then evaluates only the segments that need
the request (device, time of day, referrer, ...) or another segment's answer.

The result is the same ``node.matches`` a request would run, evaluated earlier, so both paths
share one definition. When the definitions changed since (an editor saved a segment), or the
instant has passed, the request evaluates everything itself, as it did before.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import NamedTuple

from django.utils import timezone

from ..profiles.snapshot import ProfileSnapshot
from .base import PROFILE, EvalContext
from .definitions import CompiledSegment, compiled_segments, definitions_version
from .models import Segment
from .windows import next_change

DERIVED_KEY = "segments"
# A precomputed answer is trusted for at most this long, so any time dependence a condition
# fails to announce through ``changes_at`` is bounded; active visitors refold far sooner.
MAX_AGE = timedelta(minutes=15)


class Precomputed(NamedTuple):
    version: str
    computed_at: datetime
    until: datetime
    evaluated: frozenset[str]  # slugs of the profile-only segments
    matched: frozenset[str]


def profile_only(segment: CompiledSegment) -> bool:
    return segment.kind == Segment.Kind.DYNAMIC and all(
        leaf.kind == PROFILE and not leaf.references() for leaf in segment.node.leaves()
    )


def with_profile_segments(snapshot: ProfileSnapshot) -> ProfileSnapshot:
    """``snapshot`` with the answers of every profile-only segment (a snapshot deriver)."""
    if not snapshot.exists:
        return snapshot
    now = timezone.now()
    version = definitions_version()
    contexts = [
        (segment, EvalContext(snapshot=snapshot, now=now, segment_slug=segment.slug))
        for segment in compiled_segments(version)
        if profile_only(segment)
    ]
    matched = frozenset(segment.slug for segment, ctx in contexts if segment.node.matches(ctx))
    # When a window would first change an answer (as the window sweep schedules it), capped.
    until = min(next_change(contexts) or now + MAX_AGE, now + MAX_AGE)
    evaluated = frozenset(segment.slug for segment, _ in contexts)
    result = Precomputed(version, now, until, evaluated, matched)
    return dataclasses.replace(snapshot, derived={**snapshot.derived, DERIVED_KEY: result})


def precomputed_for(snapshot: ProfileSnapshot, version: str, now: datetime) -> Precomputed | None:
    """The snapshot's precomputed answers if they hold for these definitions at ``now``."""
    found = snapshot.derived.get(DERIVED_KEY)
    if (
        isinstance(found, Precomputed)
        and found.version == version
        and found.computed_at <= now < found.until
    ):
        return found
    return None
