"""Which variant a visitor sees: the first, in editor order, whose segments and schedule match.

Pure functions over plain values, shared by the StreamField block, the snippet, the template
tags and the decide API, so a page and a headless frontend always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from django.utils import timezone

ANY, ALL = "any", "all"

T = TypeVar("T")


@dataclass(frozen=True)
class VariantRule:
    """When a variant applies. No segments means everyone (e.g. a scheduled promotion)."""

    id: str
    name: str = ""
    segments: tuple[str, ...] = ()
    match: str = ANY
    start: datetime | None = None
    end: datetime | None = None

    def matched_segments(self, segments: Sequence[str], now: datetime) -> tuple[str, ...] | None:
        """The segments that made this variant apply (empty for an everyone-variant), or None."""
        if self.start is not None and now < _aware(self.start):
            return None
        if self.end is not None and now >= _aware(self.end):
            return None
        if not self.segments:
            return ()
        held = [slug for slug in self.segments if slug in segments]
        if self.match == ALL:
            return tuple(held) if len(held) == len(self.segments) else None
        return tuple(held[:1]) or None


@dataclass(frozen=True)
class Choice(Generic[T]):
    """The outcome: the chosen variant's rule and payload, or the fallback's payload."""

    rule: VariantRule | None
    payload: T
    reason: tuple[str, ...] = ()

    @property
    def variant_id(self) -> str | None:
        return self.rule.id if self.rule else None

    @property
    def is_fallback(self) -> bool:
        return self.rule is None


def choose(
    variants: Iterable[tuple[VariantRule, T]],
    segments: Sequence[str],
    fallback: T,
    *,
    now: datetime | None = None,
) -> Choice[T]:
    now = now or timezone.now()
    for rule, payload in variants:
        reason = rule.matched_segments(segments, now)
        if reason is not None:
            return Choice(rule, payload, reason)
    return Choice(None, fallback)


def _aware(value: datetime) -> datetime:
    return timezone.make_aware(value) if timezone.is_naive(value) else value
