"""Settings for benchmark runs: the demo site, unthrottled, plus a discard-only baseline URL.

``DATABASE_URL`` and ``REDIS_URL`` (set by ``benchmarks/ingest.py``) switch to PostgreSQL and Redis
and turn Celery's eager mode off, exactly as in ``cms_site.settings``.
"""

from cms_site.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
PERSONALIZATION_THROTTLE_RATES = {}  # benchmarks must not be throttled
PERSONALIZATION_API_KEYS = {"bench": "bench-secret"}
DEBUG = False
ALLOWED_HOSTS = ["*"]
# BENCH_FOLD_MODE=inline measures folding in the request (freshness without the Celery hop).
PERSONALIZATION_FOLD_MODE = __import__("os").environ.get("BENCH_FOLD_MODE", "auto")
