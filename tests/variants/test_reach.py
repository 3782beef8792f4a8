"""Reach of a block's variants, through the editors' endpoint and the admin page that calls it."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from personalization.events.models import Event
from personalization.profiles.models import VisitorProfile
from personalization.segments.models import Segment, SegmentMembership
from personalization.segments.services import save_segment
from personalization.variants.models import PersonalizedContent

pytestmark = pytest.mark.django_db

URL = "/api/personalization/v1/variants/reach"
EDITORS = "Personalization editors"
RETURNING = {"type": "returning", "params": {"value": True}}
PROFILES = 10
# Who is in which segment, by profile number: a and b overlap on 2 and 3; "draft" is not enabled.
MEMBERS = {"a": [0, 1, 2, 3], "b": [2, 3, 4, 5], "c": [5], "draft": [6]}


def staff(username: str, *groups: str):
    user = get_user_model().objects.create_user(username=username, password="x")
    user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def editor() -> APIClient:
    return client_for(staff("editor", EDITORS))


@pytest.fixture
def audience() -> list[uuid.UUID]:
    """Ten stored profiles and the segments above, membership written as the recompute would."""
    ids = [uuid.uuid4() for _ in range(PROFILES)]
    VisitorProfile.objects.bulk_create([VisitorProfile(visitor_id=v) for v in ids])
    now = timezone.now()
    for slug, members in MEMBERS.items():
        status = Segment.Status.DRAFT if slug == "draft" else Segment.Status.ENABLED
        segment = save_segment(Segment(name=slug, slug=slug, rules=RETURNING, status=status))
        SegmentMembership.objects.bulk_create(
            [SegmentMembership(segment=segment, visitor_id=ids[i], entered_at=now) for i in members]
        )
    return ids


def reach(client: APIClient, *variants: dict) -> dict:
    response = client.post(URL, {"variants": list(variants)}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def counts(body: dict) -> tuple[list[int], int]:
    return [v["reach"] for v in body["variants"]], body["fallback"]["reach"]


# -- the counts -------------------------------------------------------------------------------


@pytest.mark.usefixtures("audience")
@pytest.mark.parametrize(
    "variants, expected, fallback",
    [
        ([{"segments": ["a", "b"], "match": "any"}], [6], 4),
        ([{"segments": ["a", "b"], "match": "all"}], [2], 8),
        ([{"segments": ["b", "c"], "match": "all"}], [1], 9),
        ([{"segments": ["a", "b"]}], [6], 4),  # "any" unless told
        ([{"segments": []}], [10], 0),  # no segments: everyone
        ([{}], [10], 0),
        ([{"segments": ["nope"]}], [0], 10),  # unknown slug: nobody
        ([{"segments": ["nope", "c"], "match": "any"}], [1], 9),
        ([{"segments": ["a", "nope"], "match": "all"}], [0], 10),
        ([{"segments": ["draft"]}], [0], 10),  # not enabled: matches nobody when deciding either
        ([{"segments": ["a", "a"], "match": "all"}], [4], 6),
        ([], [], 10),
    ],
)
def test_counts_follow_the_deciding_rules(editor, variants, expected, fallback):
    body = reach(editor, *variants)
    assert body["total"] == PROFILES
    assert counts(body) == (expected, fallback)


@pytest.mark.usefixtures("audience")
def test_the_first_matching_variant_wins(editor):
    body = reach(
        editor,
        {"segments": ["a"]},  # 0-3
        {"segments": ["b"]},  # 4-5: 2 and 3 went to the first
        {"segments": ["c"]},  # 5 went to the second
        {"segments": ["a", "b"], "match": "all"},  # all taken already
        {"segments": []},  # everyone left: 6-9
        {"segments": ["a"]},  # nobody is left after an everyone-variant
    )
    assert counts(body) == ([4, 2, 0, 0, 4, 0], 0)
    assert body["total"] == PROFILES
    assert [v["share"] for v in body["variants"]] == [0.4, 0.2, 0.0, 0.0, 0.4, 0.0]
    assert body["fallback"] == {"reach": 0, "share": 0.0}


@pytest.mark.usefixtures("audience")
def test_order_changes_who_is_counted_where(editor):
    assert counts(reach(editor, {"segments": ["b"]}, {"segments": ["a"]})) == ([4, 2], 4)
    assert counts(reach(editor, {"segments": ["a"]}, {"segments": ["b"]})) == ([4, 2], 4)
    assert counts(reach(editor, {"segments": ["c"]}, {"segments": ["b"]})) == ([1, 3], 6)


def test_without_profiles_every_share_is_zero(editor):
    body = reach(editor, {"segments": []})
    assert body == {
        "total": 0,
        "variants": [{"reach": 0, "share": 0.0, "stored": 0, "request_share": None}],
        "fallback": {"reach": 0, "share": 0.0},
    }


PHONES = {"all": [RETURNING, {"type": "device", "params": {"in": ["mobile"]}}]}


def page_views(*devices: str, hours_ago: float = 1) -> None:
    """Recent page views as ingestion stores them (the request context beside each event)."""
    at = timezone.now() - timedelta(hours=hours_ago)
    Event.objects.bulk_create(
        [
            Event(
                visitor_id=uuid.uuid4(),
                key=f"pv-{uuid.uuid4().hex}",
                type="page_view",
                timestamp=at,
                received_at=at,
                context={"device_type": device, "url": "https://example.com/"},
            )
            for device in devices
        ]
    )


@pytest.mark.usefixtures("audience")
def test_per_request_conditions_are_estimated_from_recent_page_views(editor):
    """A variant for "on a phone" takes its stored matches times the share of recent page views
    from phones; the rest see the default content (it was 0 visitors: everyone stored matched).
    By hand: 5 stored matches, 1 page view of 4 from a phone this week -> 25% -> 1.25 -> 1;
    default content 10 - 5 + (5 - 1) = 9."""
    ids = profile_ids()
    phones = save_segment(Segment(name="Phones", slug="phones", rules=PHONES, status="enabled"))
    now = timezone.now()
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=phones, visitor_id=v, entered_at=now) for v in ids[:5]]
    )
    page_views("mobile", "desktop", "desktop", "tablet")
    page_views("mobile", "mobile", "mobile", hours_ago=8 * 24)  # older than 7 days: not counted
    body = reach(editor, {"segments": ["phones"]})
    assert body["variants"] == [{"reach": 1, "share": 0.1, "stored": 5, "request_share": 0.25}]
    assert body["fallback"] == {"reach": 9, "share": 0.9}
    # Profile-only segments are counted as before; without traffic the stored count stands.
    assert reach(editor, {"segments": ["a"]})["variants"][0]["request_share"] is None
    Event.objects.all().delete()
    only = reach(editor, {"segments": ["phones"]})
    assert only["variants"][0]["reach"] == 5 and only["variants"][0]["request_share"] is None


def profile_ids() -> list[uuid.UUID]:
    return list(VisitorProfile.objects.order_by("visitor_id").values_list("visitor_id", flat=True))


@pytest.mark.usefixtures("audience")
def test_two_queries_whatever_the_number_of_variants(editor, django_assert_max_num_queries):
    """The profile count and one aggregate over memberships, however many variants."""
    reach(editor, {"segments": ["a"]})  # warm the session and the compiled definitions
    with CaptureQueriesContext(connection) as one:
        reach(editor, {"segments": ["a"]})
    many = [{"segments": ["a", "b", "c"], "match": "all" if i % 2 else "any"} for i in range(49)]
    with django_assert_max_num_queries(len(one)) as captured:
        reach(editor, *many, {"segments": []})
    tables = (VisitorProfile._meta.db_table, SegmentMembership._meta.db_table)
    counting = [q for q in captured.captured_queries if any(t in q["sql"] for t in tables)]
    assert len(counting) == 2


# -- who may ask ------------------------------------------------------------------------------


@pytest.mark.usefixtures("audience")
def test_anonymous_and_other_staff_are_refused():
    body = {"variants": [{"segments": ["a"]}]}
    assert APIClient().post(URL, body, format="json").status_code == 403
    nobody = client_for(staff("nobody"))
    assert nobody.post(URL, body, format="json").status_code == 403


@pytest.mark.usefixtures("audience")
def test_editors_and_superusers_may_ask(editor):
    assert reach(editor, {"segments": ["a"]})["variants"][0]["reach"] == 4
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    assert reach(client_for(root), {"segments": ["a"]})["variants"][0]["reach"] == 4


@pytest.mark.usefixtures("audience")
def test_answers_are_private_and_need_the_csrf_token(editor):
    response = editor.post(URL, {"variants": []}, format="json")
    assert response["Cache-Control"] == "private, no-store"
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = editor.cookies
    body = json.dumps({"variants": [{"segments": ["a"]}]})
    refused = strict.post(URL, body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    token = strict.get("/admin/").context["csrf_token"]
    response = strict.post(URL, body, content_type="application/json", HTTP_X_CSRFTOKEN=str(token))
    assert response.status_code == 200, response.content


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "variants"),
        ({"variants": "a"}, "variants"),
        ({"variants": [{}] * 51}, "variants"),
        ({"variants": [{"segments": ["a"]}, {"match": "some"}]}, "variants[1].match"),
        ({"variants": [{"segments": ["a", "not a slug!"]}]}, "variants[0].segments[1]"),
        ({"variants": [{"segments": "a"}]}, "variants[0].segments"),
        ({"variants": [{"segments": ["a"] * 101}]}, "variants[0].segments"),
        ({"variants": [{"segments": ["x" * 81]}]}, "variants[0].segments[0]"),
        ([{"segments": ["a"]}], "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(editor, body, field):
    response = editor.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert list(errors) == [field], errors
    assert all(isinstance(message, str) for message in errors[field])


# -- the admin page that calls it -------------------------------------------------------------


def test_the_snippet_editor_loads_the_reach_script(audience):
    snippet = PersonalizedContent.objects.create(
        name="Banner",
        slug="banner",
        variants=[
            {
                "type": "variant",
                "value": {"name": "Fans", "segments": ["a"], "match": "any", "content": []},
            }
        ],
    )
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(root)
    for url in (
        f"/admin/personalization/content/edit/{snippet.pk}/",
        "/admin/personalization/content/add/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "personalization/variant_reach.js" in html
        assert f'data-reach-url="{URL}"' in html
        assert "pz-variant-block" in html  # the class the script looks for, in the block definition
