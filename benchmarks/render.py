#!/usr/bin/env python
"""Render benchmark: a page of 20 personalized blocks against the same page without them.

    .venv/bin/python benchmarks/render.py --repeat 300

The promise of ``personalization/context.py`` is that a page full of personalized blocks costs
what one block does: the visitor's segments are decided once per request from two cache round
trips and no query, and each block then only picks its variant in memory. This measures it on
full page views of the demo's ``ArticlePage`` (Django test client: every middleware, Wagtail's
page serving, the demo templates), in this process, on PostgreSQL and Redis as in production
(``DATABASE_URL`` default ``postgres://postgres@127.0.0.1:5432/bench_render``, ``REDIS_URL``
default ``redis://127.0.0.1:6379/7``; the round trips to them are part of what is compared).

One run: create/migrate the database, empty every ``personalization_*`` table and flush the Redis
db, then 50 enabled segments (the mix of ``segments.py``), one consented visitor with 200 folded
events and traits (``segments.make_visitor``; in most of the segments), and four article
pages with the same text, replacing those of an earlier run:

* ``personalized-20``: 20 ``personalized`` blocks, each with 3 variants over the 50 segments
  (heading + paragraph each) and default content;
* ``plain-20``: the same 20 sections as plain heading + paragraph blocks;
* ``personalized-1`` and ``plain-1``: the first section only, for the query counts.

Each page is requested ``--repeat`` times (interleaved, after a warm-up) with the visitor's
cookie: median and p95 wall time, CPU ms, and the ratio personalized/plain. SQL statements and
cache round trips are counted on one warm request per page; they must not grow with the number
of blocks. The demo's ``base.html`` asks every page for the ``welcome-banner`` snippet, which is
not created here: both pages pay that tag's version lookup and render no banner, so the plain
page stays as close to "no personalization" as the templates allow. Server-side page-view
capture is off (``--track-page-views`` turns it on): it stores one event per view on both pages
alike, and would add the same cost to both sides.

Prints a table, then the results as one JSON line (the last line of stdout; ``--json PATH`` too).
Exits non-zero if query or cache counts grow with the number of blocks or a page fails.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from common import (  # benchmarks/common.py, beside this script
    emit_results,
    load_average,
    local_services,
    log,
)
from segments import USER_AGENT, CacheCounter, make_visitor, request_segments, setup_django

SECTIONS = 20
SEGMENT_COUNT = 50
PARAGRAPH = (
    "<p>Section {n} of the article, {label}. A paragraph of ordinary length: it explains one "
    "idea in three or four sentences, with <b>bold</b> and <i>italic</i> words, the way an "
    "editor writes them in the rich text field. Nothing in it needs a database query.</p>"
)


# --------------------------------------------------------------------------- content


def section(n: int, label: str) -> list[dict]:
    """Heading + paragraph of section ``n``: the same text for every variant but the label."""
    return [
        {"type": "heading", "value": f"Section {n}: {label}", "id": str(uuid.uuid4())},
        {
            "type": "paragraph",
            "value": PARAGRAPH.format(n=n, label=label),
            "id": str(uuid.uuid4()),
        },
    ]


def personalized_block(n: int, segments: list[str]) -> dict:
    """Three variants over different segments (any, all, any), then the default content."""

    def pick(k: int, count: int) -> list[str]:
        return [segments[(n * 3 + k * 17 + j * 7) % len(segments)] for j in range(count)]

    variants = [(1, pick(1, 2), "any"), (2, pick(2, 2), "all"), (3, pick(3, 3), "any")]
    return {
        "type": "personalized",
        "id": str(uuid.uuid4()),
        "value": {
            "variants": [
                {
                    "type": "item",
                    "id": str(uuid.uuid4()),
                    "value": {
                        "name": f"Variant {k}",
                        "segments": targets,
                        "match": match,
                        "start": None,
                        "end": None,
                        "content": section(n, f"variant {k}"),
                    },
                }
                for k, targets, match in variants
            ],
            "fallback": section(n, "default content"),
        },
    }


def plain_body(sections: int) -> list[dict]:
    return [block for n in range(1, sections + 1) for block in section(n, "for everyone")]


def personalized_body(sections: int, segments: list[str]) -> list[dict]:
    return [personalized_block(n, segments) for n in range(1, sections + 1)]


def create_pages(segments: list[str]) -> dict[str, str]:
    """A home page, an article index and the four articles; the default site points at them.
    Returns the URL of each article by name."""
    from django.utils import timezone
    from wagtail.models import Page, Site

    from cms_site.demo.models import ArticleIndexPage, ArticlePage, HomePage

    HomePage.objects.filter(slug="bench-home").delete()  # an earlier run's, with its children
    root = Page.get_first_root_node()
    home = HomePage(title="Render benchmark", slug="bench-home", intro="<p>Benchmark.</p>")
    root.add_child(instance=home)
    site = Site.objects.filter(is_default_site=True).first()
    if site is None:
        Site.objects.create(hostname="localhost", port=80, root_page=home, is_default_site=True)
    else:
        site.root_page = home
        site.save()
    index = ArticleIndexPage(title="Articles", slug="articles", intro="<p>Articles.</p>")
    home.add_child(instance=index)
    bodies = {
        "plain-1": plain_body(1),
        "personalized-1": personalized_body(1, segments),
        "plain-20": plain_body(SECTIONS),
        "personalized-20": personalized_body(SECTIONS, segments),
    }
    urls = {}
    for slug, body in bodies.items():
        page = ArticlePage(
            title="The same article, " + slug,
            slug=slug,
            date=timezone.localdate(),
            intro="An article whose sections are the same text on every page.",
            category="guides",
            body=body,
        )
        page.tags.add("sport", "travel")
        index.add_child(instance=page)
        page.save_revision().publish()
        urls[slug] = page.get_url()
    return urls


# --------------------------------------------------------------------------- measuring


def make_client(token: str):
    """A browser of the visitor: their id cookie, a mobile user agent, cookies kept."""
    from django.test import Client

    from personalization.conf import get_setting

    client = Client(headers={"User-Agent": USER_AGENT, "Accept-Language": "en-GB,en;q=0.9"})
    client.cookies[get_setting("COOKIE_NAME")] = token
    return client


def count_request(client, url: str) -> dict:
    """SQL statements and cache round trips of one request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries, CacheCounter() as cache_calls:
        response = client.get(url)
    html = response.content.decode()
    return {
        "status": response.status_code,
        "queries": len(queries.captured_queries),
        "sql": [q["sql"][:120] for q in queries.captured_queries],
        "cache_round_trips": sum(cache_calls.calls.values()),
        "cache_calls": dict(sorted(cache_calls.calls.items())),
        "variants_shown": html.count(": variant "),
        "defaults_shown": html.count(": default content"),
        "html_bytes": len(response.content),
    }


def time_pages(clients: dict, urls: dict, repeat: int, warmup: int) -> dict[str, dict]:
    """Every page ``repeat`` times, interleaved so that noise from the machine hits all alike."""
    wall: dict[str, list[float]] = {name: [] for name in urls}
    cpu: dict[str, list[float]] = {name: [] for name in urls}
    for i in range(warmup + repeat):
        for name, url in urls.items():
            w0, c0 = time.perf_counter(), time.process_time()
            response = clients[name].get(url)
            w1, c1 = time.perf_counter(), time.process_time()
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code}")
            if i >= warmup:
                wall[name].append((w1 - w0) * 1000)
                cpu[name].append((c1 - c0) * 1000)
    out = {}
    for name in urls:
        ordered = sorted(wall[name])
        out[name] = {
            "median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 3),
            "mean_ms": round(statistics.fmean(ordered), 3),
            "cpu_median_ms": round(statistics.median(cpu[name]), 3),
        }
    return out


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=300, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per page")
    parser.add_argument(
        "--track-page-views",
        action="store_true",
        help="keep server-side page-view capture on (one event stored per view, both pages)",
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat >= 1, --warmup >= 0")

    database_url, redis_url = local_services(parser, "bench_render", 7)
    os.environ.setdefault("CACHE_KEY_PREFIX", "bench-render")
    started = time.perf_counter()
    setup_django(database_url, redis_url)  # also empties the tables and flushes the Redis db

    from django.conf import settings
    from django.test.utils import override_settings

    from personalization.profiles.identity import sign_visitor_id
    from personalization.segments.models import Segment
    from personalization.segments.services import save_segment, visitor_segments
    from personalization.types import RequestContext

    # templates/base.html shows the "welcome-banner" snippet on every page; it does not exist
    # here (so it renders nothing on both pages), and its warning would be logged per view.
    logging.getLogger("personalization.templatetags.personalization_tags").setLevel(logging.ERROR)
    if settings.CELERY_TASK_ALWAYS_EAGER is False and args.track_page_views:
        log("page views are queued to the Redis db; no worker folds them during the run")
    segments = []
    for slug, rules in request_segments(SEGMENT_COUNT):
        save_segment(Segment(name=f"Bench {slug}", slug=slug, rules=rules, status="enabled"))
        segments.append(slug)
    visitor_id, _ingested = make_visitor(random.Random(args.seed), 200)
    urls = create_pages(segments)
    held = visitor_segments(
        visitor_id, request=RequestContext.from_user_agent(USER_AGENT, language="en-GB")
    )
    log(f"visitor in {len(held)} of {len(segments)} segments; pages: {', '.join(urls.values())}")

    token = sign_visitor_id(visitor_id)
    problems: list[str] = []
    results: dict = {
        "config": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "database / cache": f"PostgreSQL {urlsplit(database_url).path.lstrip('/')} / "
            f"Redis db {redis_url.rsplit('/', 1)[-1]}",
            "requests per page (after warm-up)": f"{args.repeat} (+{args.warmup})",
            "segments / visitor is in": f"{len(segments)} / {len(held)}",
            "page-view capture": "on" if args.track_page_views else "off",
            "cpus": os.cpu_count(),
            "load average before (1, 5, 15 min)": load_average(),
        },
        "problems": problems,
    }
    with override_settings(PERSONALIZATION_TRACK_PAGE_VIEWS=args.track_page_views):
        clients = {name: make_client(token) for name in urls}
        for name, url in urls.items():  # first views: cookies set, process caches filled
            for _ in range(3):
                clients[name].get(url)
        counts = {name: count_request(clients[name], url) for name, url in urls.items()}
        # a browser that saw a personalized page sends its segment-key cookie everywhere
        browsing = make_client(token)
        browsing.get(urls["personalized-1"])
        counts["plain-20 (with pz_seg cookie)"] = count_request(browsing, urls["plain-20"])
        timings = time_pages(clients, urls, args.repeat, args.warmup)

    for name, c in counts.items():
        if c["status"] != 200:
            problems.append(f"{name}: HTTP {c['status']}")
    for kind in ("plain", "personalized"):
        one, twenty = counts[f"{kind}-1"], counts[f"{kind}-20"]
        for key in ("queries", "cache_round_trips"):
            if one[key] != twenty[key]:
                problems.append(f"{kind}: {key} grow with blocks ({one[key]} -> {twenty[key]})")
    shown = counts["personalized-20"]
    if shown["variants_shown"] + shown["defaults_shown"] != SECTIONS:
        problems.append(f"personalized-20 shows {shown} sections")
    results["counts"] = counts
    results["timings"] = timings
    results["ratio_personalized_over_plain"] = {
        "20 blocks, median": round(
            timings["personalized-20"]["median_ms"] / timings["plain-20"]["median_ms"], 3
        ),
        "20 blocks, p95": round(
            timings["personalized-20"]["p95_ms"] / timings["plain-20"]["p95_ms"], 3
        ),
        "1 block, median": round(
            timings["personalized-1"]["median_ms"] / timings["plain-1"]["median_ms"], 3
        ),
    }
    results["personalized_cost_per_block_ms"] = round(
        (
            (timings["personalized-20"]["median_ms"] - timings["plain-20"]["median_ms"])
            - (timings["personalized-1"]["median_ms"] - timings["plain-1"]["median_ms"])
        )
        / (SECTIONS - 1),
        3,
    )
    results["config"]["load average after (1, 5, 15 min)"] = load_average()
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    print_table(results)
    emit_results(results, args.json)
    return 1 if problems else 0


def print_table(r: dict) -> None:
    def row(label, value):
        print(f"  {label:<44} {value}")

    print("\n=== personalization render benchmark ===")
    for k, v in r["config"].items():
        row(k, v)
    print(
        f"  {'page':<30}{'median ms':>10}{'p95 ms':>9}{'CPU ms':>8}{'SQL':>5}{'cache':>6}"
        f"{'variant/default':>17}"
    )
    for name, c in r["counts"].items():
        t = r["timings"].get(name)
        timing = (
            f"{t['median_ms']:>10.2f}{t['p95_ms']:>9.2f}{t['cpu_median_ms']:>8.2f}"
            if t
            else f"{'':>10}{'':>9}{'':>8}"
        )
        shown = (
            f"{c['variants_shown']}/{c['defaults_shown']}" if name.startswith("personal") else ""
        )
        print(f"  {name:<30}{timing}{c['queries']:>5}{c['cache_round_trips']:>6}{shown:>17}")
    for label, value in r["ratio_personalized_over_plain"].items():
        row(f"RATIO personalized / plain, {label}", value)
    row("extra ms per personalized block (median)", r["personalized_cost_per_block_ms"])
    row("cache calls, personalized-20", r["counts"]["personalized-20"]["cache_calls"])
    for problem in r["problems"]:
        row("PROBLEM", problem)
    row("total run time (s)", r["total_seconds"])
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
