"""The API docs a frontend developer reads: every event type's properties and the consent
purposes by name in the schema, Swagger UI with "Try it out" beside ReDoc, and nothing loaded
from another host (the docs work offline)."""

from __future__ import annotations

import re

import pytest
import yaml
from django.test import Client

from personalization.consent.purposes import PURPOSES

pytestmark = pytest.mark.django_db

EXTERNAL = re.compile(rb"""(?:src|href)=["'](?:https?:)?//""")


def _schema() -> dict:
    response = Client().get("/api/personalization/v1/schema")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_each_event_type_is_documented_with_its_properties():
    schema = _schema()
    batch = schema["components"]["schemas"]["EventBatchRequest"]
    variants = {v["title"]: v for v in batch["properties"]["events"]["items"]["oneOf"]}
    builtin = {"page_view", "content_view", "click", "search", "add_to_cart", "purchase"}
    assert builtin | {"form_submit", "signup", "custom"} <= set(variants)
    purchase = variants["purchase"]["properties"]["properties"]
    assert purchase["required"] == ["value"]
    assert purchase["properties"]["value"] == {"type": "number"}
    assert variants["search"]["properties"]["properties"]["required"] == ["query"]
    assert variants["page_view"]["properties"]["properties"]["properties"]["tags"]["type"] == (
        "array"
    )


def test_consent_purposes_are_documented_by_name():
    schemas = _schema()["components"]["schemas"]
    purposes = schemas["ConsentState"]["properties"]["purposes"]
    target = schemas[purposes["$ref"].rsplit("/", 1)[1]]
    assert list(target["properties"]) == list(PURPOSES)
    assert all(target["properties"][p]["description"] for p in PURPOSES)


def test_swagger_ui_with_try_it_out_is_served_locally_under_a_strict_csp():
    client = Client()
    page = client.get("/api/personalization/v1/docs/try")
    assert page.status_code == 200
    assert b"swagger-ui-bundle.js" in page.content and not EXTERNAL.search(page.content)
    assert "default-src 'self'" in page["Content-Security-Policy"]
    assert "script-src 'self';" in page["Content-Security-Policy"]  # no inline script
    script = client.get("/api/personalization/v1/docs/try", {"script": ""})
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content
    assert b"/api/personalization/v1/schema" in script.content


def test_redoc_asks_no_font_cdn():
    page = Client().get("/api/personalization/v1/docs")
    assert page.status_code == 200 and b"redoc" in page.content.lower()
    assert b"fonts.googleapis" not in page.content and not EXTERNAL.search(page.content)
