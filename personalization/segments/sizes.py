"""Segment sizes: the member count on the segment and one history row per day."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from .models import Segment, SegmentMembership, SegmentSizeHistory


def record_size(segment: Segment, now: datetime) -> int:
    size = SegmentMembership.objects.filter(segment=segment).count()
    Segment.objects.filter(pk=segment.pk).update(member_count=size, last_recomputed_at=now)
    SegmentSizeHistory.objects.update_or_create(
        segment=segment, date=now.date(), defaults={"size": size}
    )
    return size


def record_segment_sizes(*, now: datetime | None = None) -> int:
    """Store today's size of every segment (the recompute does it too, for the ones it runs)."""
    now = now or timezone.now()
    segments = list(Segment.objects.all())
    for segment in segments:
        record_size(segment, now)
    return len(segments)
