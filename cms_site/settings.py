"""Environment-driven settings for the demo host site.

Nothing set: SQLite, eager Celery and a local-memory cache, so a laptop needs no services.
``DATABASE_URL`` switches to PostgreSQL (or any database dj-database-url knows), ``REDIS_URL``
switches the cache and the Celery broker to Redis and turns eager mode off.

``DEBUG`` is off unless the environment turns it on (``make demo`` does). Without ``DEBUG``, a
``SECRET_KEY`` must come from the environment: the demo's published key signs visitor tokens
that anyone could forge, so the site refuses to start with it (the test suite, which runs
without DEBUG, gets a key of its own).
"""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from personalization.celery import beat_schedule, task_routes

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Published in this repository: only ever good for a demo on a laptop (DEBUG=1).
DEMO_SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789"
DEBUG = env_bool("DEBUG", False)
TESTING = "pytest" in sys.modules
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = DEMO_SECRET_KEY
elif not SECRET_KEY and TESTING:
    SECRET_KEY = "test-suite-only-" + "k3y-n0t-f0r-any-s1te-" * 3
elif not SECRET_KEY or (SECRET_KEY == DEMO_SECRET_KEY and not DEBUG):
    raise ImproperlyConfigured(
        "Set SECRET_KEY in the environment (a long random string): the demo's published key "
        "would let anyone sign visitor tokens. Only DEBUG=1 (make demo) runs without one."
    )
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver,[::1]").split(",")

INSTALLED_APPS = [
    "cms_site.demo",
    "personalization",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.contrib.settings",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail.api.v2",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rules.apps.AutodiscoverRulesConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    # First (or right after django.middleware.cache.UpdateCacheMiddleware), above sessions.
    "personalization.middleware.SegmentKeyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "personalization.middleware.VisitorMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "cms_site.urls"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
WSGI_APPLICATION = "cms_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache that answers misses instead of raising while Redis is down,
            # so Wagtail, throttles and personalization keep serving (docs/faults.md).
            "BACKEND": "personalization.cache_backends.FailSoftRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "cms"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: eager without a broker; with REDIS_URL a real broker and real workers.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_IGNORE_RESULT = True  # nothing reads task results; the plugin's tasks say so too
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_ROUTES = task_routes()  # every task of the app to its queue (events, segments)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = beat_schedule(
    recompute_seconds=float(os.environ.get("SEGMENT_RECOMPUTE_SECONDS", 300)),
    bandit_seconds=float(os.environ.get("BANDIT_UPDATE_SECONDS", 300)),
    recommender_train_seconds=float(os.environ.get("RECOMMENDER_TRAIN_SECONDS", 86400)),
    model_train_seconds=float(os.environ.get("MODEL_TRAINING_SECONDS", 86400)),
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "static_collected"
MEDIA_URL = "/media/"
MEDIA_ROOT = BASE_DIR / "media"

WAGTAIL_SITE_NAME = "Personalization demo"
WAGTAILADMIN_BASE_URL = os.environ.get("WAGTAILADMIN_BASE_URL", "http://localhost:8000")
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Personalization API",
    "DESCRIPTION": "Events, consent, profiles and privacy for Wagtail personalization.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
}

# The plugin's own settings (see personalization/conf.py for every default).
PERSONALIZATION_API_KEYS = {
    key: value
    for key, value in (
        item.split("=", 1)
        for item in os.environ.get("PERSONALIZATION_API_KEYS", "").split(",")
        if "=" in item
    )
}
# The demo's own key: `manage.py seed_demo` (make demo) writes a random one to this git-ignored
# file and prints it, so the curl examples in docs/ run against the demo as written. Read only
# with DEBUG: a production site names its keys in the environment.
DEMO_API_KEY_FILE = Path(os.environ.get("DEMO_API_KEY_FILE", BASE_DIR / ".demo-api-key"))
if DEBUG and DEMO_API_KEY_FILE.is_file():
    _demo_key = DEMO_API_KEY_FILE.read_text().strip()
    if _demo_key:
        PERSONALIZATION_API_KEYS.setdefault("demo", _demo_key)
PERSONALIZATION_CONSENT_DEFAULTS = {
    "necessary": True,
    "analytics": env_bool("DEMO_CONSENT_DEFAULT", False),
    "personalization": env_bool("DEMO_CONSENT_DEFAULT", False),
    "marketing": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
