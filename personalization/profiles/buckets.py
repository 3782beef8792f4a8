"""Time buckets for counters: 5-minute and hourly ones for the recent window, days beyond, one
all-time row.

The 5-minute buckets are what make windows slide smoothly: a window counts the whole hours inside
it from the hourly buckets and its oldest, partial hour from the 5-minute ones, so an event stops
counting at most ``FINE_MINUTES`` after it left the window (hourly buckets alone kept it up to an
hour). Both cover ``HOURLY_COUNTER_HOURS``; longer windows count whole days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


FINE_MINUTES = 5
FINE = timedelta(minutes=FINE_MINUTES)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def fine_start(moment: datetime) -> datetime:
    """The start of the 5-minute bucket holding ``moment``."""
    moment = moment.astimezone(UTC)
    return moment.replace(
        minute=moment.minute - moment.minute % FINE_MINUTES, second=0, microsecond=0
    )


def fine_index(moment: datetime) -> int:
    return int((moment - EPOCH) // FINE)


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
