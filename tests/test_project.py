"""Project health: migrations, system checks, the committed OpenAPI schema."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_no_missing_migrations():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_committed_openapi_schema_matches_the_code(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command(
        "spectacular", "--urlconf", "personalization.api.schema_urls", "--file", str(generated)
    )
    committed = (ROOT / "docs" / "openapi.yaml").read_text()
    assert generated.read_text() == committed, (
        "docs/openapi.yaml is stale: run `make schema` and commit it"
    )


@pytest.mark.django_db
def test_schema_and_docs_are_served():
    from django.test import Client

    client = Client()
    schema = client.get("/api/personalization/v1/schema")
    assert schema.status_code == 200 and b"/api/personalization/v1/events" in schema.content
    docs = client.get("/api/personalization/v1/docs")
    assert docs.status_code == 200 and b"redoc" in docs.content.lower()
    assert b"cdn." not in docs.content  # served locally


def _check_ids(**overrides) -> set[str]:
    from django.core.checks import run_checks

    with override_settings(**overrides):
        return {m.id for m in run_checks() if m.id and m.id.startswith("personalization.")}


def test_system_checks_catch_a_broken_installation(settings):
    assert _check_ids(DEBUG=True) == set()
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert "personalization.W001" in _check_ids(DEBUG=False, CACHES=locmem)
    middleware = [m for m in settings.MIDDLEWARE if "personalization" not in m]
    assert "personalization.E001" in _check_ids(MIDDLEWARE=middleware)
    early = ["personalization.middleware.VisitorMiddleware", *middleware]
    assert "personalization.E002" in _check_ids(MIDDLEWARE=early)
    assert "personalization.W002" in _check_ids(MIDDLEWARE=middleware)
    key = "personalization.middleware.SegmentKeyMiddleware"
    assert "personalization.E007" in _check_ids(
        MIDDLEWARE=[*middleware[:3], key, *middleware[3:]]  # below SessionMiddleware
    )
    assert "personalization.E003" in _check_ids(PERSONALIZATION_SNAPSHOT_CACHE_ALIAS="nope")
    backends = ["django.contrib.auth.backends.ModelBackend"]
    assert "personalization.E004" in _check_ids(AUTHENTICATION_BACKENDS=backends)
    assert "personalization.E005" in _check_ids(PERSONALIZATION_FOLD_MODE="sometimes")
    assert "personalization.E013" in _check_ids(PERSONALIZATION_INLINE_FOLD_MAX_EVENTS="20")
    assert "personalization.E013" in _check_ids(PERSONALIZATION_INLINE_FOLD_MAX_EVENTS=-1)


def test_known_or_weak_signing_keys_are_errors_outside_debug(settings):
    published = "dev-only-insecure-key-change-me-in-production-0123456789"
    assert "personalization.E011" in _check_ids(DEBUG=False, SECRET_KEY=published)
    assert "personalization.E011" in _check_ids(
        DEBUG=False, SECRET_KEY="django-insecure-" + "x" * 50
    )
    assert "personalization.E011" in _check_ids(DEBUG=False, SECRET_KEY="short-but-random-9f")
    assert "personalization.E011" in _check_ids(DEBUG=False, SECRET_KEY="ab" * 40)
    good = "Jx4q-Vd0sL9mZr2Tb7wYe1KcNh5uPa8GfQ3oXi6jWv_MkRtS0pDzLyHn"
    assert "personalization.E011" not in _check_ids(DEBUG=False, SECRET_KEY=good)
    assert "personalization.E012" in _check_ids(
        SECRET_KEY=good, PERSONALIZATION_WEBHOOK_SECRET=good
    )


def _settings_in_a_fresh_process(**env) -> subprocess.CompletedProcess:
    """Import the demo's settings as a server would (no pytest in the process)."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    code = "import cms_site.settings as s; print('DEBUG', s.DEBUG)"
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_site_refuses_to_start_with_the_published_key_unless_debug():
    published = "dev-only-insecure-key-change-me-in-production-0123456789"
    no_key = _settings_in_a_fresh_process()
    assert no_key.returncode != 0 and "ImproperlyConfigured" in no_key.stderr
    demo_key = _settings_in_a_fresh_process(SECRET_KEY=published)
    assert demo_key.returncode != 0 and "ImproperlyConfigured" in demo_key.stderr
    own_key = _settings_in_a_fresh_process(SECRET_KEY="Jx4q-Vd0sL9mZr2Tb7wYe1KcNh5uPa8GfQ3o")
    assert own_key.returncode == 0 and "DEBUG False" in own_key.stdout  # DEBUG is off by default
    demo = _settings_in_a_fresh_process(DEBUG="1")
    assert demo.returncode == 0 and "DEBUG True" in demo.stdout
