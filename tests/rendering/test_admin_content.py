"""Editors manage personalized content in the Wagtail admin."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import Group, Permission
from wagtail.test.utils.form_data import nested_form_data, streamfield

from personalization.variants.models import PersonalizedContent

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/personalization/content/add/"


@pytest.fixture
def personalization_editor(client, django_user_model, segments):
    user = django_user_model.objects.create_user("ed", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    user.groups.add(Group.objects.create(name="Personalization editors"))
    client.force_login(user)
    return client


def form(start: str = "", end: str = "") -> dict:
    variant = {
        "name": "VIP",
        "match": "any",
        "start": start,
        "end": end,
        "content": streamfield([("heading", "Welcome back")]),
    }
    data = nested_form_data(
        {
            "name": "Promo",
            "slug": "promo",
            "description": "",
            "variants": streamfield([("variant", variant)]),
            "fallback": streamfield([("heading", "Hello")]),
        }
    )
    data["variants-0-value-segments"] = ["vip"]  # a multiple choice: one key, many values
    return data


def test_editors_create_personalized_content(personalization_editor):
    assert personalization_editor.get(ADD_URL).status_code == 200
    response = personalization_editor.post(ADD_URL, form())
    assert response.status_code == 302, response.content.decode()[:2000]
    promo = PersonalizedContent.objects.get(slug="promo")
    [variant] = promo.variants
    assert variant.value["segments"] == ["vip"]
    assert variant.value["content"][0].value == "Welcome back"


def test_a_schedule_that_ends_before_it_starts_is_a_form_error(personalization_editor):
    response = personalization_editor.post(
        ADD_URL, form(start="2026-12-01 10:00", end="2026-11-01 10:00")
    )
    assert response.status_code == 200
    assert "Must be after the start." in response.content.decode()
    assert not PersonalizedContent.objects.exists()


def test_other_admin_users_cannot_manage_it(client, django_user_model):
    user = django_user_model.objects.create_user("other", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client.force_login(user)
    response = client.get(ADD_URL)
    assert response.status_code in (302, 403)
    assert not PersonalizedContent.objects.exists()


def test_a_variants_segments_are_checkboxes_with_a_search_box(personalization_editor):
    """Not a bare multi-select: a search box, one checkbox per segment, and the script that
    filters them, in the StreamField block's form (telepath JSON) and the page's media."""
    page = html.unescape(personalization_editor.get(ADD_URL).content.decode())
    assert "data-pz-segment-search" in page
    assert "personalization/segment_picker.js" in page
    for slug in ("vip", "mobile"):
        assert f'type=\\"checkbox\\" name=\\"__NAME__\\" value=\\"{slug}\\"' in page
    assert '<select name=\\"__NAME__\\" id=\\"__ID__\\" multiple' not in page
