"""Windows in minutes are no longer offered: stored ones become whole hours.

The engine never counted minutes (a 30-minute window counted back to the start of the hour, so
30 to 90 minutes), so each minute window becomes the smallest whole number of hours that holds it
(30 minutes -> 1 hour, 90 -> 2). Nothing is lost: the segment's description gains a line naming
every window that changed and what it was, and reversing the migration restores them from there.
"""

from __future__ import annotations

import math
import re

from django.db import migrations

NOTE = "[0008] {path}: window was {amount} minutes, now {hours} hours."
NOTE_RE = re.compile(
    r"^\[0008\] (?P<path>\S*): window was (?P<amount>\d+) minutes, now \d+ hours\.$"
)


def _convert(node, path: str, notes: list[str]):
    """Walk a rules tree (dicts and lists), converting every {"amount": N, "unit": "minutes"}."""
    if isinstance(node, dict):
        if node.get("unit") == "minutes" and isinstance(node.get("amount"), int):
            hours = max(1, math.ceil(node["amount"] / 60))
            notes.append(NOTE.format(path=path, amount=node["amount"], hours=hours))
            return {**node, "amount": hours, "unit": "hours"}
        return {
            key: _convert(value, f"{path}.{key}" if path else key, notes)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_convert(value, f"{path}[{i}]", notes) for i, value in enumerate(node)]
    return node


def minutes_to_hours(apps, schema_editor):
    Segment = apps.get_model("personalization", "Segment")
    for segment in Segment.objects.iterator():
        notes: list[str] = []
        rules = _convert(segment.rules, "", notes)
        if not notes:
            continue
        segment.rules = rules
        segment.description = "\n".join(filter(None, [segment.description, *notes]))
        segment.save(update_fields=["rules", "description"])


def _at(node, path: str):
    """The dict at a path written by ``_convert`` (``all[0].params.within``)."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def hours_to_minutes(apps, schema_editor):
    Segment = apps.get_model("personalization", "Segment")
    for segment in Segment.objects.filter(description__contains="[0008] ").iterator():
        kept = []
        for line in segment.description.split("\n"):
            match = NOTE_RE.match(line)
            if match is None:
                kept.append(line)
                continue
            try:
                window = _at(segment.rules, match["path"])
            except (KeyError, IndexError, TypeError):
                kept.append(line)
                continue
            window.update(amount=int(match["amount"]), unit="minutes")
        segment.description = "\n".join(kept)
        segment.save(update_fields=["rules", "description"])


class Migration(migrations.Migration):
    dependencies = [
        ("personalization", "0007_faults"),
    ]

    operations = [migrations.RunPython(minutes_to_hours, hours_to_minutes)]
