"""Every ``PERSONALIZATION_*`` setting with its default, read on each call.

Reading per call (instead of at import) keeps ``override_settings`` working in tests and lets a
host project change a value without restarting workers that import us early.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Identity
    "COOKIE_NAME": "pz_vid",
    "COOKIE_MAX_AGE": 60 * 60 * 24 * 395,
    "COOKIE_SECURE": False,
    "COOKIE_SAMESITE": "Lax",
    "VISITOR_HEADER": "X-Visitor-Id",
    # Server-to-server clients: {"name": "secret"}; they may act for any visitor id.
    "API_KEYS": {},
    # Consent: the state a visitor has before saying anything (GDPR-style opt-in by default).
    "CONSENT_DEFAULTS": {
        "necessary": True,
        "analytics": False,
        "personalization": False,
        "marketing": False,
    },
    "HONOUR_DNT": True,
    "HONOUR_GPC": True,
    # Ingestion limits
    "MAX_BATCH_SIZE": 500,
    "MAX_BODY_BYTES": 1024 * 1024,
    # JSON bodies nested deeper than this are a 400 before parsing (events need about 6).
    "MAX_JSON_DEPTH": 32,
    "MAX_EVENT_AGE_DAYS": 30,
    "MAX_CLOCK_SKEW_SECONDS": 300,
    "MAX_PROPERTIES_BYTES": 8192,
    # The largest ``value`` one event may carry. Profile sums (12 digits before the point) stop
    # at their column's maximum; a single event past this bound is refused with a 400.
    "MAX_EVENT_VALUE": 10**9,
    "THROTTLE_RATES": {"visitor": "600/min", "client": "12000/min", "anonymous": "300/min"},
    # Server-side capture of Wagtail page views (no JavaScript needed).
    "TRACK_PAGE_VIEWS": True,
    # Folding events into profiles: "auto" (inline when Celery is eager), "inline" or "task".
    "FOLD_MODE": "auto",
    # Unfolded events older than this are folded by the fold_stragglers beat task (schedule it
    # about this often): a worker killed with fold messages unacknowledged delays counts by at
    # most about twice this, not the broker's visibility timeout. Folding twice is harmless.
    "FOLD_STRAGGLER_SECONDS": 20,
    # Profiles
    "VISIT_TIMEOUT_MINUTES": 30,
    "HOURLY_COUNTER_HOURS": 24 * 8,
    "DAILY_COUNTER_DAYS": 400,
    "EVENT_RETENTION_DAYS": 400,
    "SNAPSHOT_CACHE_ALIAS": "default",
    "SNAPSHOT_TTL_SECONDS": 60 * 60,
    "MAX_TRAITS": 100,
    # Headers a CDN sets with the visitor's location, tried in order.
    "COUNTRY_HEADERS": [
        "CF-IPCountry",
        "CloudFront-Viewer-Country",
        "X-Vercel-IP-Country",
        "X-Country-Code",
    ],
    "REGION_HEADERS": [
        "CloudFront-Viewer-Country-Region",
        "X-Vercel-IP-Country-Region",
        "X-Region-Code",
    ],
    # Extra substrings that mark a user agent as a bot, on top of the user-agents parser.
    "BOT_MARKERS": ["bot", "crawler", "spider", "slurp", "headless", "python-requests", "curl/"],
    # Cache-safe delivery: personalized responses vary on this compact, signed key (cookie for
    # browsers, header for CDNs and headless frontends), never on the whole Cookie header.
    "SEGMENT_KEY_COOKIE": "pz_seg",
    "SEGMENT_KEY_HEADER": "X-Personalization-Key",
    # How long a browser keeps its key: a cached page can lag a segment change by this much.
    "SEGMENT_KEY_MAX_AGE": 300,
    # Impressions recorded by the decide API (one row per placement) are kept this long.
    "IMPRESSION_RETENTION_DAYS": 400,
    # Buffer impressions in Redis and write them in bulk (fast, best-effort: a Redis restart
    # without persistence loses up to one flush interval). False: one INSERT per decide call.
    "IMPRESSION_BUFFER": True,
    # Staff preview a page as a segment with ?pz_preview=slug[,slug] (needs this permission).
    "PREVIEW_PARAM": "pz_preview",
    "PREVIEW_PERMISSION": "wagtailadmin.access_admin",
    "PRIVACY_OFFICER_GROUP": "Personalization privacy officers",
    "EDITOR_GROUP": "Personalization editors",
    "ANALYST_GROUP": "Personalization analysts",
}


def get_setting(name: str) -> Any:
    """Return ``PERSONALIZATION_<name>`` from settings, or its default."""
    return getattr(settings, f"PERSONALIZATION_{name}", DEFAULTS[name])
