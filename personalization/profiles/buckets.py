"""Time buckets for counters: hours for the recent window, days beyond, one all-time row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def hour_index(moment: datetime) -> int:
    return int((moment - EPOCH) // timedelta(hours=1))


def day_index(moment: datetime) -> int:
    return int((moment - EPOCH) // timedelta(days=1))


def hourly_horizon(now: datetime, hours: int) -> datetime:
    """Oldest hour still kept in hourly buckets."""
    return hour_start(now) - timedelta(hours=hours - 1)


def daily_horizon(now: datetime, days: int) -> datetime:
    return day_start(now) - timedelta(days=days - 1)
