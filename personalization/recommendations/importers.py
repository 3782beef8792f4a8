"""Importing interactions from files: MovieLens (``user<TAB>item<TAB>rating<TAB>timestamp``)
and plain CSV (``user,item,weight,timestamp``, optional header, epoch seconds or ISO 8601).

The whole file is validated before anything is written: a malformed line raises ``ImportFailed``
with its line number and nothing is stored. Rows are unique per (source, visitor, item,
timestamp), so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.db import transaction
from django.utils.dateparse import parse_datetime

from .models import Interaction

FORMATS = ("movielens", "csv")
NAMESPACE = uuid.UUID("6f1f6a52-5b0e-4a8e-9a44-7d3c0e0f1c11")
MAX_ID = 64


class ImportFailed(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line, self.message = line, message


@dataclass(frozen=True)
class Row:
    user: str
    item: str
    weight: float
    timestamp: datetime


def visitor_for(source: str, user: str) -> uuid.UUID:
    """The stable visitor id of an external user (the same on every import)."""
    return uuid.uuid5(NAMESPACE, f"{source}:{user}")


def _id(value: str, name: str, line: int) -> str:
    value = value.strip()
    if not value:
        raise ImportFailed(line, f"empty {name}")
    if len(value) > MAX_ID:
        raise ImportFailed(line, f"{name} longer than {MAX_ID} characters")
    return value


def _number(value: str, name: str, line: int) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ImportFailed(line, f"{name} is not a number: {value[:40]!r}") from None
    if not math.isfinite(number):
        raise ImportFailed(line, f"{name} is not finite")
    return number


def _timestamp(value: str, line: int) -> datetime:
    value = value.strip()
    if value.lstrip("-").isdigit():
        seconds = int(value)
        if not 0 <= seconds < 253402300800:  # year 10000
            raise ImportFailed(line, "timestamp out of range")
        return datetime.fromtimestamp(seconds, tz=UTC)
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ImportFailed(line, f"timestamp is neither epoch seconds nor ISO 8601: {value[:40]!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _lines(data: bytes):
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportFailed(number, "not UTF-8") from None
        if "\x00" in text:
            raise ImportFailed(number, "NUL byte")
        yield number, text


def parse_movielens(data: bytes) -> list[Row]:
    rows = []
    for number, text in _lines(data):
        if not text.strip():
            continue
        fields = text.split("\t") if "\t" in text else text.split()
        if len(fields) != 4:
            raise ImportFailed(
                number, f"expected 4 fields (user, item, rating, timestamp), got {len(fields)}"
            )
        user, item = _id(fields[0], "user", number), _id(fields[1], "item", number)
        _number(fields[2], "rating", number)  # validated; every rating is one interaction
        rows.append(Row(user, item, 1.0, _timestamp(fields[3], number)))
    return rows


def parse_csv(data: bytes) -> list[Row]:
    rows = []
    texts = list(_lines(data))
    reader = csv.reader(io.StringIO("\n".join(text for _, text in texts)))
    for (number, _), fields in zip(texts, reader, strict=False):
        if not fields or not "".join(fields).strip():
            continue
        if number == 1 and fields[0].strip().lower() in {"user", "user_id", "visitor"}:
            continue  # header
        if len(fields) != 4:
            raise ImportFailed(
                number, f"expected 4 fields (user, item, weight, timestamp), got {len(fields)}"
            )
        user, item = _id(fields[0], "user", number), _id(fields[1], "item", number)
        weight = _number(fields[2], "weight", number)
        if weight <= 0 or weight > 1e6:
            raise ImportFailed(number, "weight must be > 0 and at most 1000000")
        rows.append(Row(user, item, weight, _timestamp(fields[3], number)))
    return rows


PARSERS = {"movielens": parse_movielens, "csv": parse_csv}


def import_interactions(path: str | Path, fmt: str, *, source: str | None = None) -> dict:
    """Validate the whole file, then store it in one transaction. Returns counts."""
    if fmt not in PARSERS:
        raise ValueError(f"Unknown format '{fmt}' (one of {', '.join(FORMATS)}).")
    source = (source or fmt)[:40]
    rows = PARSERS[fmt](Path(path).read_bytes())
    objects = {}
    for row in rows:
        visitor_id = visitor_for(source, row.user)
        key = (visitor_id, row.item, row.timestamp)
        objects[key] = Interaction(
            visitor_id=visitor_id,
            external_user=row.user,
            item_id=row.item,
            weight=row.weight,
            timestamp=row.timestamp,
            source=source,
        )
    with transaction.atomic():
        before = Interaction.objects.filter(source=source).count()
        Interaction.objects.bulk_create(
            list(objects.values()), ignore_conflicts=True, batch_size=2000
        )
        after = Interaction.objects.filter(source=source).count()
    return {
        "lines": len(rows),
        "created": after - before,
        "unchanged": len(objects) - (after - before),
        "source": source,
    }
