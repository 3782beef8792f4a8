"""Windows are offered in hours and days only: the builder offers no unit the engine cannot
count, a minute window is a form/API error naming the field, and stored ones became hours."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from personalization.segments.models import Segment

from ..conftest import Visitor
from .test_admin import ADD, editor, errors_text, form_data  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

migration = importlib.import_module("personalization.migrations.0008_windows_minutes_to_hours")


def windowed(amount: int, unit: str) -> dict:
    return {
        "type": "event_count",
        "params": {
            "event": "page_view",
            "op": ">=",
            "value": 1,
            "within": {"amount": amount, "unit": unit},
        },
    }


def test_the_builder_offers_hours_and_days_only(editor):  # noqa: F811
    response = editor.get(ADD)
    catalog = response.context["form"]["rules"].field.widget.get_context("rules", None, {})
    units = catalog["widget"]["catalog"]["units"]
    assert units == ["hours", "days"]


def test_a_minute_window_is_a_form_error_naming_the_field(editor):  # noqa: F811
    rules = {"all": [windowed(30, "minutes")]}
    response = editor.post(ADD, form_data(rules=json.dumps(rules)))
    assert response.status_code == 200
    text = errors_text(response)
    assert "all[0].params.within.unit" in text and "Minutes are not offered" in text
    assert not Segment.objects.exists()


def test_a_minute_window_is_an_api_error_naming_the_field(db):
    editor_user = get_user_model().objects.create_user("ed", password="pw-ed-12345")
    editor_user.groups.add(Group.objects.create(name="Personalization editors"))
    client = Visitor().client
    client.force_login(editor_user)
    response = client.post(
        "/api/personalization/v1/segments/estimate",
        {"rules": windowed(45, "minutes")},
        format="json",
    )
    assert response.status_code == 400
    assert "Minutes are not offered" in response.json()["rules.params.within.unit"][0]


def test_stored_minute_windows_become_hours_and_the_originals_are_kept(db):
    rules = {
        "all": [
            windowed(30, "minutes"),
            {"not": windowed(90, "minutes")},
            windowed(2, "hours"),
            {
                "type": "last_seen",
                "params": {"op": "within", "within": {"amount": 120, "unit": "minutes"}},
            },
        ]
    }
    # Stored before minutes were refused (a plain save does not validate).
    stored = Segment.objects.create(
        name="Fresh", slug="fresh", rules=rules, description="Recent readers.", status="enabled"
    )
    untouched = Segment.objects.create(name="Day", slug="day", rules=windowed(1, "days"))

    migration.minutes_to_hours(apps, None)

    stored.refresh_from_db()
    assert stored.rules["all"][0]["params"]["within"] == {"amount": 1, "unit": "hours"}
    assert stored.rules["all"][1]["not"]["params"]["within"] == {"amount": 2, "unit": "hours"}
    assert stored.rules["all"][2]["params"]["within"] == {"amount": 2, "unit": "hours"}
    assert stored.rules["all"][3]["params"]["within"] == {"amount": 2, "unit": "hours"}
    assert stored.description.splitlines() == [
        "Recent readers.",
        "[0008] all[0].params.within: window was 30 minutes, now 1 hours.",
        "[0008] all[1].not.params.within: window was 90 minutes, now 2 hours.",
        "[0008] all[3].params.within: window was 120 minutes, now 2 hours.",
    ]
    stored.full_clean()  # valid under the new rules
    untouched.refresh_from_db()
    assert untouched.rules == windowed(1, "days") and untouched.description == ""

    migration.hours_to_minutes(apps, None)  # reversible from what was kept
    stored.refresh_from_db()
    assert stored.rules == rules and stored.description == "Recent readers."
