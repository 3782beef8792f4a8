"""System checks that catch a broken installation at start-up, with ids and hints."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .conf import get_setting


@register()
def check_installation(app_configs, **kwargs):
    problems = []
    middleware = list(getattr(settings, "MIDDLEWARE", []))
    name = "personalization.middleware.VisitorMiddleware"
    auth = "django.contrib.auth.middleware.AuthenticationMiddleware"
    if name not in middleware:
        problems.append(
            Error(
                "VisitorMiddleware is not installed.",
                hint=f"Add '{name}' to MIDDLEWARE after AuthenticationMiddleware.",
                id="personalization.E001",
            )
        )
    elif auth in middleware and middleware.index(name) < middleware.index(auth):
        problems.append(
            Error(
                "VisitorMiddleware must come after AuthenticationMiddleware.",
                hint="Move it below AuthenticationMiddleware so logged-in users are recognised.",
                id="personalization.E002",
            )
        )
    if get_setting("SNAPSHOT_CACHE_ALIAS") not in settings.CACHES:
        problems.append(
            Error(
                f"Cache alias '{get_setting('SNAPSHOT_CACHE_ALIAS')}' is not configured.",
                hint="Set PERSONALIZATION_SNAPSHOT_CACHE_ALIAS to a key of CACHES.",
                id="personalization.E003",
            )
        )
    backends = getattr(settings, "AUTHENTICATION_BACKENDS", [])
    if "rules.permissions.ObjectPermissionBackend" not in backends:
        problems.append(
            Error(
                "The django-rules permission backend is missing.",
                hint="Add 'rules.permissions.ObjectPermissionBackend' to AUTHENTICATION_BACKENDS.",
                id="personalization.E004",
            )
        )
    if get_setting("FOLD_MODE") not in {"auto", "inline", "task"}:
        problems.append(
            Error(
                "PERSONALIZATION_FOLD_MODE must be 'auto', 'inline' or 'task'.",
                id="personalization.E005",
            )
        )
    inline_max = get_setting("INLINE_FOLD_MAX_EVENTS")
    if not isinstance(inline_max, int) or isinstance(inline_max, bool) or inline_max < 0:
        problems.append(
            Error(
                "PERSONALIZATION_INLINE_FOLD_MAX_EVENTS must be a whole number, 0 or more.",
                id="personalization.E013",
            )
        )
    from django.db import connection

    if connection.vendor == "sqlite":
        import sqlite3

        if sqlite3.sqlite_version_info < (3, 35):
            problems.append(
                Error(
                    f"SQLite {sqlite3.sqlite_version} is too old for idempotent event inserts.",
                    hint="Event ingestion needs INSERT ... RETURNING: SQLite 3.35 or newer.",
                    id="personalization.E006",
                )
            )
    cache_backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if not settings.DEBUG and cache_backend.endswith("LocMemCache"):
        problems.append(
            Warning(
                "Profile snapshots live in a per-process local-memory cache.",
                hint="Use a shared cache (Redis) in production so every process sees changes.",
                id="personalization.W001",
            )
        )
    problems.extend(_segment_key_middleware(middleware))
    problems.extend(_signing_keys())
    problems.extend(_rules_app())
    problems.extend(_broker())
    return problems


# Keys published in code (this repository's demo, Django's startproject placeholder prefix):
# anyone who knows one signs visitor tokens and segment keys for a site that uses it.
KNOWN_KEYS = frozenset({"dev-only-insecure-key-change-me-in-production-0123456789"})
KNOWN_KEY_PREFIXES = ("django-insecure-", "dev-only-insecure-key")


def weak_key(key: str) -> str | None:
    """Why a signing key is unsafe, or None if it looks like a long random secret."""
    if key in KNOWN_KEYS or key.startswith(KNOWN_KEY_PREFIXES):
        return "it is published"
    if len(key) < 50 or len(set(key)) < 5:
        return "it is shorter than 50 characters or has fewer than 5 distinct ones"
    return None


def _signing_keys() -> list:
    """SECRET_KEY signs visitor tokens and segment keys; the webhook secret signs what we send
    to other systems. Outside DEBUG, a known or weak key is an error."""
    problems = []
    why = weak_key(str(settings.SECRET_KEY))
    if why and not settings.DEBUG:
        problems.append(
            Error(
                f"SECRET_KEY cannot sign visitor tokens: {why}.",
                hint="Set SECRET_KEY to a long random string (python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))') and keep it out of the repository.",
                id="personalization.E011",
            )
        )
    webhook_secret = get_setting("WEBHOOK_SECRET")
    if webhook_secret and webhook_secret == settings.SECRET_KEY:
        problems.append(
            Error(
                "PERSONALIZATION_WEBHOOK_SECRET is the SECRET_KEY.",
                hint="Receivers of segment webhooks hold the webhook secret: give them one of "
                "its own, never the key that signs visitor tokens.",
                id="personalization.E012",
            )
        )
    return problems


def _rules_app() -> list:
    """Without the ``rules`` app nothing loads ``personalization/rules.py``'s permissions, and
    every editor who is not a superuser is turned away from every personalization page."""
    from django.apps import apps

    if apps.is_installed("rules"):
        return []
    return [
        Error(
            "django-rules is not in INSTALLED_APPS: the personalization roles (editors, analysts, "
            "privacy officers) would have no permissions.",
            hint="Add 'rules.apps.AutodiscoverRulesConfig' to INSTALLED_APPS.",
            id="personalization.E008",
        )
    ]


def _broker() -> list:
    from .background import broker_configured

    if get_setting("FOLD_MODE") != "task" or broker_configured():
        return []
    return [
        Error(
            "PERSONALIZATION_FOLD_MODE is 'task' but no Celery broker is configured, so events "
            "would never be folded into profiles.",
            hint="Set up a Celery app with a broker (CELERY_BROKER_URL, see the README's "
            "'Background work'), or use FOLD_MODE 'auto' to work in the request without one.",
            id="personalization.E009",
        )
    ]


@register(Tags.caches, deploy=False)
def check_cache_reachable(app_configs, **kwargs):
    """In development, a configured cache that does not answer (Redis not running) is an error
    at ``check`` rather than a ``ConnectionError`` on the first consent."""
    if not settings.DEBUG:
        return []
    from django.core.cache import caches

    alias = get_setting("SNAPSHOT_CACHE_ALIAS")
    if alias not in settings.CACHES:
        return []  # E003 says so
    try:
        caches[alias].get("personalization:check")
    except Exception as exc:
        backend = settings.CACHES[alias].get("BACKEND", "")
        return [
            Error(
                f"Cache '{alias}' ({backend}) does not answer: {exc.__class__.__name__}: {exc}",
                hint="Start it (e.g. redis-server), or use a cache without a server: "
                "'django.core.cache.backends.locmem.LocMemCache' for one process in development, "
                "'django.core.cache.backends.db.DatabaseCache' (after createcachetable) otherwise.",
                id="personalization.E010",
            )
        ]
    return []


def _segment_key_middleware(middleware: list[str]) -> list:
    """Where the segment-key middleware must sit for shared caches to key on segments."""
    name = "personalization.middleware.SegmentKeyMiddleware"
    if name not in middleware:
        return [
            Warning(
                "SegmentKeyMiddleware is not installed: personalized pages cannot be cached "
                "per segment combination.",
                hint=f"Add '{name}' first in MIDDLEWARE (right after UpdateCacheMiddleware).",
                id="personalization.W002",
            )
        ]
    position = middleware.index(name)
    must_follow = ["django.middleware.cache.UpdateCacheMiddleware"]
    must_precede = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.cache.FetchFromCacheMiddleware",
    ]
    wrong = [m for m in must_follow if m in middleware and middleware.index(m) > position] + [
        m for m in must_precede if m in middleware and middleware.index(m) < position
    ]
    if not wrong:
        return []
    return [
        Error(
            f"SegmentKeyMiddleware is in the wrong place relative to {', '.join(wrong)}.",
            hint="Put it right after UpdateCacheMiddleware (or first), above SessionMiddleware "
            "and FetchFromCacheMiddleware.",
            id="personalization.E007",
        )
    ]
