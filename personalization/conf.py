"""Every ``PERSONALIZATION_*`` setting with its default, read on first use.

Reading on first use (instead of at import) lets a host project configure settings after
importing us. Each value is then kept in a plain dict, forgotten whenever the settings object
behind Django's lazy ``settings`` is swapped, which is how ``override_settings`` and
pytest-django's ``settings`` fixture change values (setting and deleting), so tests see a change
at once. Reading the lazy ``settings`` on every call cost ~30 ``LazyObject.__getattribute__``
lookups per API request.
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
    # Origins (``https://shop.example.com``) whose pages may change a visitor's state (consent,
    # events, erasure) with the visitor's cookie. The site's own origin is always allowed.
    "ALLOWED_ORIGINS": [],
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
    # Reverse proxies of the site's own in front of it (load balancer, CDN): 0 means clients
    # connect directly and X-Forwarded-For is ignored, so it cannot be used to dodge rate limits.
    "NUM_PROXIES": 0,
    # Event types a browser may send for itself. Every other type (purchase, signup, your own
    # hook-registered ones unless listed here) carries trust: it is accepted only from a server,
    # with an API key or through ``track_event``, or with a server's signature (``sign_event``).
    "BROWSER_EVENT_TYPES": [
        "page_view",
        "content_view",
        "click",
        "search",
        "add_to_cart",
        "form_submit",
        "custom",
    ],
    # Key for event signatures; empty means SECRET_KEY (salted).
    "EVENT_SIGNING_KEY": "",
    # The largest ``value`` one event may carry. Profile sums (12 digits before the point) stop
    # at their column's maximum; a single event past this bound is refused with a 400.
    "MAX_EVENT_VALUE": 10**9,
    "THROTTLE_RATES": {"visitor": "600/min", "client": "12000/min", "anonymous": "300/min"},
    # Server-side capture of Wagtail page views (no JavaScript needed).
    "TRACK_PAGE_VIEWS": True,
    # Count page views a page cache served (tracker.js reports them; see docs/caching.md).
    # None: on when Django's cache middleware is installed; True behind NGINX, Varnish or a CDN.
    "CACHED_PAGE_VIEWS": None,
    # Folding events into profiles: "auto" (inline when Celery is eager), "inline" or "task".
    "FOLD_MODE": "auto",
    # With workers ("auto" and a broker), a batch of at most this many events (what a browser
    # sends) is folded in the request right after it is stored, so the visitor's next page
    # sees it within milliseconds instead of a worker hop; larger batches go to the workers.
    # 0 sends every batch to the workers (least web CPU per event).
    "INLINE_FOLD_MAX_EVENTS": 20,
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
    # Signs segment webhooks (X-Personalization-Signature). Its own secret, shared with the
    # receivers; never SECRET_KEY. Webhooks are not sent while it is empty.
    "WEBHOOK_SECRET": "",
    # Segment webhooks send at most this many visitor ids per POST (and per task).
    "WEBHOOK_BATCH_SIZE": 500,
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
    # The visitor's IANA time zone, set by tracker.js: time-of-day and day-of-week conditions on
    # server-rendered pages use it (the site's TIME_ZONE without it). Unknown names are ignored.
    "TIMEZONE_COOKIE": "pz_tz",
    # Impressions recorded by the decide API (one row per placement) are kept this long.
    "IMPRESSION_RETENTION_DAYS": 400,
    # Buffer impressions in Redis and write them in bulk (fast, best-effort: a Redis restart
    # without persistence loses up to one flush interval). False: one INSERT per decide call.
    "IMPRESSION_BUFFER": True,
    # Staff preview a page as a segment with ?pz_preview=slug[,slug] (needs this permission).
    "PREVIEW_PARAM": "pz_preview",
    "PREVIEW_PERMISSION": "wagtailadmin.access_admin",
    # Bandits: exposures older than this have had their chance to convert, so LinUCB learns
    # from them (a reward not seen by then counts as none).
    "BANDIT_REWARD_DELAY_SECONDS": 60 * 60,
    # Scoring (personas and predictive scores; see docs/scoring.md)
    # Each predictive score: "conversion" (the goal event within the next N days) or "churn"
    # (no event at all within the next N days, among visitors active in the 28 days before).
    "SCORES": {
        "conversion": {"kind": "conversion", "goal": "purchase", "days": 7, "model": "logistic"},
        "churn": {"kind": "churn", "days": 7, "model": "logistic"},
    },
    "PERSONA_K_RANGE": (2, 8),
    # "minibatch_kmeans", "kmeans", "agglomerative" or "dbscan" (the last two fit a sample).
    "PERSONA_ALGORITHM": "minibatch_kmeans",
    "PERSONA_SCALER": "standard",  # or "robust"
    "PERSONA_PCA": None,  # None, a share of variance to keep (0.9), or a number of components
    "PERSONA_SAMPLE_SIZE": 5000,  # silhouette, Davies-Bouldin and the sample-based algorithms
    # Above this many profiles, k is chosen on a random subset and only the chosen k sees all.
    "PERSONA_SELECTION_SIZE": 100_000,
    # Root-mean-square distance (in standard deviations per feature) under which a new cluster
    # inherits an old persona's key and name; farther clusters become new personas.
    "PERSONA_MATCH_DISTANCE": 1.0,
    "SCORING_AUTO_ACTIVATE": True,
    # Assign persona and scores to a visitor as their events are folded (between retrains).
    "SCORING_REALTIME": True,
    "SCORING_RANDOM_STATE": 0,
    "PRIVACY_OFFICER_GROUP": "Personalization privacy officers",
    "EDITOR_GROUP": "Personalization editors",
    "ANALYST_GROUP": "Personalization analysts",
    # Recommendations: the interaction matrix. One weight per event type (types not listed are
    # ignored); the item is the first of these event properties that is set.
    "INTERACTION_WEIGHTS": {
        "page_view": 1.0,
        "content_view": 0.5,
        "click": 2.0,
        "add_to_cart": 4.0,
        "purchase": 8.0,
    },
    "INTERACTION_ITEM_PROPERTIES": ["item_id", "page_id"],
    # Older interactions count less: weight x 0.5 ** (age / half life). None: no decay.
    "INTERACTION_HALF_LIFE_DAYS": 60,
    # Only interactions this recent are trained on. None: all of them.
    "INTERACTION_WINDOW_DAYS": 365,
    # Items seen by fewer visitors, and visitors with fewer items, are left out of training.
    "MIN_ITEM_SUPPORT": 2,
    "MIN_VISITOR_INTERACTIONS": 1,
    # Which recommender "train_recommenders" trains, with its parameters (see docs).
    "RECOMMENDER": "hybrid",
    "RECOMMENDER_PARAMS": {},
    # Serving
    "RECOMMENDATIONS_PRECOMPUTED": 50,  # top-N stored per visitor and per item
    "RECOMMENDATIONS_ACTIVE_DAYS": 30,  # visitors with events this recent get a stored list
    "RECOMMENDATIONS_TIME_BUDGET_MS": 50,  # on-the-fly scoring for visitors without a list
    "RECOMMENDATIONS_RECENT_ITEMS": 20,  # how many recent items the on-the-fly path reads
    "RECOMMENDATIONS_EXCLUDE_SEEN": True,
    "RECOMMENDATIONS_MMR_LAMBDA": 0.8,  # 1.0: pure relevance; lower: more diverse lists
    "RECOMMENDATIONS_FRESHNESS_BOOST": 0.1,  # added to a page first published ...
    "RECOMMENDATIONS_FRESHNESS_DAYS": 14,  # ... this recently, fading linearly
    "RECOMMENDATIONS_PAGE_TYPES": [],  # "app_label.model" names; empty: every page type
    "RECOMMENDATIONS_MAX_LIMIT": 50,
    "RECOMMENDATIONS_CACHE_TTL": 60 * 60 * 24,
    # Retrain once this many new events arrived since the active model's data window ended.
    "RETRAIN_AFTER_EVENTS": 5000,
}


_MISSING = object()
_read: dict[str, Any] = {}
_read_from: list[object] = [None]  # the settings object the values in _read came from
# The lazy settings' own attributes, a plain dict for life (Django clears it, never replaces it):
# looking up "_wrapped" here skips LazyObject.__getattribute__.
_lazy_state = vars(settings)


def get_setting(name: str) -> Any:
    """Return ``PERSONALIZATION_<name>`` from settings, or its default."""
    wrapped = _lazy_state.get("_wrapped")
    if wrapped is not _read_from[0]:
        _read.clear()
        _read_from[0] = wrapped
    value = _read.get(name, _MISSING)
    if value is _MISSING:
        value = getattr(settings, f"PERSONALIZATION_{name}", DEFAULTS[name])
        _read[name] = value
    return value
