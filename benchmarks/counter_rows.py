#!/usr/bin/env python
"""Counter rows per visitor, by bucket size: what the 5-minute buckets cost in storage.

    DEBUG=1 .venv/bin/python benchmarks/counter_rows.py --visitors 1000

Synthetic visitors active within the hourly window (8 days): 1-6 visits each, 3-15 page views
per visit over 2-20 minutes, two tags, a page and a page type per view (five series per event).
The rows are what the fold would write (``_counter_deltas``); no database is needed. Prints the
rows per visitor by granularity and the 5-minute rows' share, as JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms_site.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    import django

    django.setup()
    from django.utils import timezone

    from personalization.events.models import Event
    from personalization.profiles.folding import _counter_deltas

    rng = random.Random(args.seed)
    now = timezone.now()
    rows: Counter = Counter()
    tags = ["ai", "security", "pricing", "devops", "cloud"]
    for _ in range(args.visitors):
        events = []
        for _visit in range(rng.randint(1, 6)):
            start = now - timedelta(minutes=rng.uniform(0, 8 * 24 * 60 - 30))
            views, span = rng.randint(3, 15), rng.uniform(2, 20)
            for i in range(views):
                properties = {
                    "tags": rng.sample(tags, 2),
                    "page_id": rng.randint(1, 40),
                    "page_type": "demo.articlepage",
                }
                moment = start + timedelta(minutes=span * i / views)
                events.append(
                    Event(
                        visitor_id=uuid.uuid4(),
                        type="page_view",
                        timestamp=moment,
                        properties=properties,
                    )
                )
        for granularity, *_ in _counter_deltas(events, now):
            rows[granularity] += 1
    names = {"t": "total", "d": "day", "h": "hour", "m": "five_minutes"}
    per_visitor = {names[g]: round(n / args.visitors, 1) for g, n in sorted(rows.items())}
    result = {
        "visitors": args.visitors,
        "rows_per_visitor": per_visitor,
        "five_minute_rows_per_hourly_row": round(rows["m"] / rows["h"], 2),
        "growth_of_all_counter_rows": round(rows["m"] / (sum(rows.values()) - rows["m"]), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
