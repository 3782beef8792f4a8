"""schemathesis over the committed OpenAPI schema (docs/openapi.yaml): every operation, bounded
examples, a fixed seed. No 5xx, and every answer conforms to the schema: documented status
codes and content types, response bodies, data the schema forbids refused; 405 for methods an
operation does not have.

One check is left out: ``positive_data_acceptance`` (schema-valid data must get a 2xx). Part of
what makes a request valid cannot be written in a schema: a visitor token's signature, a
placement slug that exists right now, event types registered by hooks. Those answers are 400s
naming the field, which the status-code and no-5xx checks cover; the shapes a schema can state
(non-empty ``events`` and ``purposes``, booleans, UUID paths) are stated, so the negative check
holds them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from personalization.consent.services import record_consent

from .conftest import token_for

ROOT = Path(__file__).resolve().parent.parent
schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.yaml")
schema.app = get_wsgi_application()
API_KEY = "fuzz-key"


@pytest.fixture
def fuzz_env(db, settings):
    import uuid

    settings.PERSONALIZATION_API_KEYS = {"fuzz": API_KEY}
    settings.PERSONALIZATION_THROTTLE_RATES = {}
    vid = uuid.UUID(int=7)
    record_consent(vid, {"analytics": True, "personalization": True})
    # The WSGI app is called directly, not through Django's test client: keep the test's
    # connection (and its transaction) open across requests, as the test client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"X-Visitor-Id": token_for(vid), "Authorization": f"Api-Key {API_KEY}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_schema(case, fuzz_env):
    headers = {**fuzz_env, **(case.headers or {})}
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])


@pytest.mark.parametrize("path", sorted(schema.raw_schema["paths"]))
def test_methods_an_operation_lacks_are_a_405(path, fuzz_env, client):
    url = path.replace("{visitor_id}", "00000000-0000-0000-0000-000000000007").replace(
        "{experiment_id}", "1"
    )
    allowed = {m.upper() for m in schema.raw_schema["paths"][path]}
    for method in {"TRACE", "PUT", "PATCH", "DELETE", "POST", "GET"} - allowed:
        response = client.generic(method, url, "{", content_type="application/json")
        assert response.status_code == 405, (method, url, response.content[:200])
