"""Segments in the Wagtail admin, over HTTP: roles, the builder form, insights, recompute, CSV."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from personalization.segments.models import Segment, SegmentMembership, SegmentSizeHistory
from personalization.segments.services import save_segment

pytestmark = pytest.mark.django_db

INDEX = "/admin/personalization/segments/"
ADD = INDEX + "new/"
EDITORS = "Personalization editors"
ANALYSTS = "Personalization analysts"

READER = {
    "all": [
        {
            "type": "event_count",
            "params": {
                "event": "page_view",
                "dimension": "tag:ai",
                "op": ">=",
                "value": 3,
                "within": {"amount": 24, "unit": "hours"},
            },
        },
        {"not": {"type": "device", "params": {"in": ["mobile"]}}},
    ]
}


def edit_url(segment: Segment) -> str:
    return f"{INDEX}edit/{segment.pk}/"


def staff_client(username: str, *groups: str) -> Client:
    user = get_user_model().objects.create_user(username=username, password="x")
    user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor() -> Client:
    return staff_client("editor", EDITORS)


@pytest.fixture
def analyst() -> Client:
    return staff_client("analyst", ANALYSTS)


def make_segment(slug: str = "ai-readers", rules: dict | None = None, **extra) -> Segment:
    return save_segment(
        Segment(
            name=slug.replace("-", " ").title(),
            slug=slug,
            rules=rules if rules is not None else READER,
            status=extra.pop("status", "enabled"),
            **extra,
        )
    )


def form_data(**overrides) -> dict:
    data = {
        "name": "AI readers",
        "slug": "ai-readers",
        "description": "Read three AI articles today.",
        "status": "enabled",
        "kind": "dynamic",
        "priority": "5",
        "webhook_url": "",
        "rules": json.dumps(READER),
    }
    data.update(overrides)
    return data


def denied(response) -> bool:
    """Wagtail turns PermissionDenied in admin views into a redirect to the dashboard with an
    error message (a 403 for requests that want JSON)."""
    return response.status_code == 403 or (
        response.status_code == 302 and response["Location"] == "/admin/"
    )


def errors_text(response) -> str:
    return " ".join(str(e) for e in response.context["form"].errors.get("rules", []))


# -- editors ----------------------------------------------------------------------------------


def test_editor_sees_the_menu_and_the_listing(editor):
    make_segment(member_count=42)
    make_segment("pricing-curious", {"all": []}, status="draft", kind="static", priority=3)
    home = editor.get("/admin/")
    assert b"Personalization" in home.content
    assert INDEX.encode() in home.content

    response = editor.get(INDEX)
    assert response.status_code == 200
    body = response.content.decode()
    for text in ("Ai Readers", "Pricing Curious", "Size", "42", "Last recomputed", ADD):
        assert text in body

    filtered = editor.get(INDEX, {"status": "draft"})
    assert "Pricing Curious" in filtered.content.decode()
    assert "Ai Readers" not in filtered.content.decode()
    assert "Ai Readers" not in editor.get(INDEX, {"kind": "static"}).content.decode()
    searched = editor.get(INDEX, {"q": "pricing"})
    assert "Pricing Curious" in searched.content.decode()
    assert "Ai Readers" not in searched.content.decode()


def test_create_page_renders_the_rule_builder(editor):
    response = editor.get(ADD)
    assert response.status_code == 200
    body = response.content.decode()
    assert "data-pz-rule-builder" in body
    assert "personalization/rule_builder.js" in body
    assert "personalization/rule_builder.css" in body
    assert "/api/personalization/v1/segments/estimate" in body
    catalog = response.context["form"]["rules"].field.widget.get_context("rules", None, {})
    types = {t["type"]: t for t in catalog["widget"]["catalog"]["types"]}
    assert types["event_count"]["group"] == "Stored on the profile"
    assert types["device"]["group"] == "Checked per request"
    assert {f["name"] for f in types["event_count"]["params"]} >= {
        "event",
        "dimension",
        "op",
        "value",
        "value2",
        "within",
    }
    assert response.context["form"]["rules"].value() == {"all": []}  # a new segment starts empty


def test_editor_creates_and_edits_a_segment(editor, django_capture_on_commit_callbacks):
    response = editor.post(ADD, form_data())
    assert response.status_code == 302, response.context["form"].errors
    segment = Segment.objects.get(slug="ai-readers")
    assert segment.rules == READER
    assert segment.status == "enabled"
    assert segment.priority == 5

    page = editor.get(edit_url(segment))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Insights" in body and "Recompute now" in body and "Download members (CSV)" in body
    assert "Did something N times" in body  # a stored (profile) condition type
    assert "Device type" in body  # a condition checked per request

    def listed() -> dict:
        response = Client().get("/api/personalization/v1/segments")
        assert response.status_code == 200
        return {s["slug"]: s for s in response.json()}

    assert listed()["ai-readers"]["priority"] == 5  # the API now holds the compiled definitions

    rules = {"any": [{"type": "visit_count", "params": {"op": ">=", "value": 2}}]}
    response = editor.post(
        edit_url(segment), form_data(name="Regulars", rules=json.dumps(rules), priority="9")
    )
    assert response.status_code == 302, response.context["form"].errors
    segment.refresh_from_db()
    assert (segment.name, segment.priority, segment.rules) == ("Regulars", 9, rules)

    # Saved through save_segment: the edit is live for the API right away, not when the
    # compiled definitions it held expire.
    live = listed()["ai-readers"]
    assert (live["priority"], live["rules"]) == (9, rules)


@pytest.mark.parametrize(
    "rules, expected",
    [
        ('{"all": [', "Not valid JSON"),
        (json.dumps({"all": [{"type": "teleport"}]}), "all[0].type: Unknown condition type"),
        (
            json.dumps({"all": [{"type": "visit_count", "params": {"op": "~", "value": 1}}]}),
            "all[0].params.op",
        ),
        (
            json.dumps({"any": [{"not": {"type": "event_count", "params": {"op": ">="}}}]}),
            "any[0].not.params.event",
        ),
        (json.dumps({"all": [{"type": "segment", "params": {"segment": "nope"}}]}), "nope"),
        ("", "required"),
    ],
)
def test_invalid_rules_are_form_errors_with_the_path(editor, rules, expected):
    response = editor.post(ADD, form_data(rules=rules))
    assert response.status_code == 200
    assert expected in errors_text(response)
    assert expected in response.content.decode()
    assert not Segment.objects.exists()


def test_invalid_rules_on_edit_leave_the_segment_unchanged(editor):
    segment = make_segment()
    response = editor.post(edit_url(segment), form_data(rules='{"all": [{"type": 1}]}'))
    assert response.status_code == 200
    assert "all[0].type" in errors_text(response)
    segment.refresh_from_db()
    assert segment.rules == READER
    # What the user typed is shown back, so nothing is lost.
    assert "{&quot;all&quot;: [{&quot;type&quot;: 1}]}" in response.content.decode()


def test_editor_deletes_a_segment(editor):
    segment = make_segment()
    response = editor.post(f"{INDEX}delete/{segment.pk}/")
    assert response.status_code == 302
    assert not Segment.objects.exists()


# -- analysts and others ----------------------------------------------------------------------


def test_analyst_views_but_cannot_change(analyst):
    segment = make_segment()
    response = analyst.get(INDEX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Ai Readers" in body
    assert ADD not in body  # no "Add" button
    assert edit_url(segment) not in body
    assert f"{INDEX}inspect/{segment.pk}/" in body

    assert denied(analyst.get(ADD))
    assert denied(analyst.post(ADD, form_data(slug="other")))
    assert denied(analyst.get(edit_url(segment)))
    assert denied(analyst.post(edit_url(segment), form_data(name="Hijacked")))
    assert denied(analyst.post(f"{INDEX}delete/{segment.pk}/"))
    assert denied(analyst.post(f"{INDEX}recompute/{segment.pk}/"))
    segment.refresh_from_db()
    assert segment.name == "Ai Readers"
    assert Segment.objects.count() == 1

    inspect = analyst.get(f"{INDEX}inspect/{segment.pk}/")
    assert inspect.status_code == 200
    assert "Download members (CSV)" in inspect.content.decode()
    assert "Recompute now" not in inspect.content.decode()


def test_staff_without_a_role_see_no_menu_and_get_403(db):
    client = staff_client("someone")
    segment = make_segment()
    home = client.get("/admin/")
    assert home.status_code == 200
    assert INDEX.encode() not in home.content
    assert b'"Personalization"' not in home.content
    for url in (INDEX, ADD, edit_url(segment), f"{INDEX}inspect/{segment.pk}/"):
        assert denied(client.get(url)), url
    assert denied(client.get(f"{INDEX}members/{segment.pk}/csv/"))


def test_anonymous_users_are_sent_to_the_login(db):
    response = Client().get(INDEX)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_privacy_page_stays_where_it_was(db):
    officer = staff_client("officer", "Personalization privacy officers")
    assert officer.get("/admin/personalization/privacy/").status_code == 200
    home = officer.get("/admin/").content.decode()
    assert "Privacy requests" in home  # in the Personalization menu, without segments
    assert INDEX not in home
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(superuser)
    home = client.get("/admin/").content.decode()
    assert "Privacy requests" in home and INDEX in home
    assert client.get("/admin/personalization/privacy/").status_code == 200


# -- insights, CSV, recompute -----------------------------------------------------------------


def test_csv_export_streams_the_members(analyst):
    segment = make_segment()
    now = timezone.now()
    ids = [uuid.uuid4() for _ in range(3)]
    SegmentMembership.objects.bulk_create(
        [
            SegmentMembership(segment=segment, visitor_id=v, entered_at=now - timedelta(hours=i))
            for i, v in enumerate(ids)
        ]
    )
    response = analyst.get(f"{INDEX}members/{segment.pk}/csv/")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["visitor_id", "entered_at"]
    assert sorted(r[0] for r in rows[1:]) == sorted(str(v) for v in ids)
    assert len(rows) == 4


def test_edit_page_shows_members_and_history(editor):
    segment = make_segment(kind="static")
    member = uuid.uuid4()
    SegmentMembership.objects.create(segment=segment, visitor_id=member, entered_at=timezone.now())
    today = timezone.now().date()
    for days, size in ((2, 10), (1, 20), (0, 5)):
        SegmentSizeHistory.objects.create(
            segment=segment, date=today - timedelta(days=days), size=size
        )
    body = editor.get(edit_url(segment)).content.decode()
    assert str(member) in body
    assert "pz-chart__bar" in body and "--pz-height: 100%" in body and "--pz-height: 50%" in body
    assert "frozen at" in body


VIEWERS = {
    "all": [{"type": "event_count", "params": {"event": "page_view", "op": ">=", "value": 1}}]
}


def test_a_new_segment_has_its_size_on_save_and_a_slug_from_its_name(
    editor, visitor, django_capture_on_commit_callbacks
):
    """No "Recompute now" needed after Create, and no slug to type."""
    visitor.send({"type": "page_view", "properties": {"page_id": 1}})
    with django_capture_on_commit_callbacks(execute=True):
        response = editor.post(
            ADD, form_data(name="Page viewers", slug="", rules=json.dumps(VIEWERS))
        )
    assert response.status_code == 302, response.context["form"].errors
    segment = Segment.objects.get(name="Page viewers")
    assert segment.slug == "page-viewers"
    assert segment.member_count == 1 and segment.last_recomputed_at is not None
    assert segment.progress["done"] == segment.progress["total"] == 2
    # A second one of the same name gets a slug of its own.
    response = editor.post(ADD, form_data(name="Page viewers", slug="", rules=json.dumps(VIEWERS)))
    assert response.status_code == 302, response.context["form"].errors
    assert Segment.objects.filter(slug="page-viewers-2").exists()


def test_until_the_recompute_ran_the_edit_page_shows_it_is_coming(editor):
    """The recompute runs after the commit (here it never does: the test's transaction is not
    committed), as it waits for a worker in production: the page says so instead of size 0."""
    response = editor.post(ADD, form_data(name="Queued", slug="", rules=json.dumps(VIEWERS)))
    assert response.status_code == 302, response.context["form"].errors
    segment = Segment.objects.get(slug="queued")
    page = editor.get(edit_url(segment)).content.decode()
    assert "Computing the size:" in page and "queued, waiting for a worker" in page


def test_recompute_button_updates_the_size(editor, visitor, django_capture_on_commit_callbacks):
    visitor.send(*[{"type": "page_view", "properties": {"page_id": i}} for i in range(2)])
    segment = make_segment(
        "viewers",
        {
            "all": [
                {"type": "event_count", "params": {"event": "page_view", "op": ">=", "value": 1}}
            ]
        },
    )
    SegmentMembership.objects.filter(segment=segment).delete()
    assert Segment.objects.get(pk=segment.pk).member_count == 0

    with django_capture_on_commit_callbacks(execute=True):
        response = editor.post(f"{INDEX}recompute/{segment.pk}/")
    assert response.status_code == 302
    assert response["Location"] == edit_url(segment)
    segment.refresh_from_db()
    assert segment.member_count == 1
    assert segment.last_recomputed_at is not None
    assert segment.progress["done"] == segment.progress["total"] == 2
    assert SegmentMembership.objects.filter(segment=segment, visitor_id=visitor.id).exists()
    assert "recomputed" in editor.get(edit_url(segment)).content.decode()

    assert editor.get(f"{INDEX}recompute/{segment.pk}/").status_code == 405


def test_estimate_endpoint_is_usable_from_the_builder(editor):
    make_segment()
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.cookies = editor.cookies
    page = csrf_client.get(ADD)
    token = page.context["csrf_token"]
    response = csrf_client.post(
        "/api/personalization/v1/segments/estimate",
        json.dumps({"rules": READER}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=str(token),
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"size": 0}


# -- parameters described once, on the condition class ----------------------------------------


class _LoyaltyTier:
    """A host project's condition type: one class, its parameters declared in ``fields``."""

    @staticmethod
    def build():
        from django.db.models import Q

        from personalization.segments.base import Condition
        from personalization.segments.fields import field

        class LoyaltyTier(Condition):
            type = "loyalty_tier"
            label = "Loyalty tier"
            fields = [
                field("tier", "select", "Tier", options=["gold", "silver"]),
                field("note", "text", "Note", required=False),
            ]

            def __init__(self, params):
                super().__init__(params)
                self.tier = params["tier"]

            def matches(self, ctx):
                return ctx.snapshot.traits.get("tier") == self.tier

            def to_q(self, ctx):
                return Q(traits__tier=self.tier)

        return LoyaltyTier


@pytest.fixture
def loyalty_tier():
    from wagtail import hooks

    from personalization.segments import registry

    condition = _LoyaltyTier.build()
    registry.reset()
    with hooks.register_temporarily(
        "register_personalization_condition_types", lambda: [condition]
    ):
        yield condition
    registry.reset()


def test_a_new_condition_type_is_one_class_for_builder_and_validation(editor, loyalty_tier):
    response = editor.get(ADD)
    catalog = response.context["form"]["rules"].field.widget.get_context("rules", None, {})
    types = {t["type"]: t for t in catalog["widget"]["catalog"]["types"]}
    params = {f["name"]: f for f in types["loyalty_tier"]["params"]}
    assert params["tier"]["kind"] == "select"
    assert params["tier"]["options"] == ["gold", "silver"]
    assert params["note"]["required"] is False

    def post(params):
        rules = {"all": [{"type": "loyalty_tier", "params": params}]}
        return editor.post(ADD, form_data(rules=json.dumps(rules)))

    # The declared options and requirements are enforced on save, naming the parameter.
    refused = post({"tier": "bronze"})
    assert refused.status_code == 200
    assert "all[0].params.tier: Must be one of: gold, silver." in errors_text(refused)
    assert "all[0].params.tier: Required." in errors_text(post({"note": "x"}))
    assert post({"tier": "gold"}).status_code == 302


def test_the_builder_offers_exactly_the_operators_the_server_accepts(editor):
    """Every select option the builder shows is accepted, and nothing else is (score's
    operators once differed between the builder and the class)."""
    from personalization.segments.base import ConditionError
    from personalization.segments.tree import compile_rules

    response = editor.get(ADD)
    catalog = response.context["form"]["rules"].field.widget.get_context("rules", None, {})
    types = {t["type"]: t for t in catalog["widget"]["catalog"]["types"]}
    candidates = ["equals", "not_equals", "in", "contains", "regex", "gt", "gte", "lt", "lte"]
    candidates += ["exists", "missing", "date_before", ">=", "between", "before", "within", "~"]
    for type_name in ("trait", "score", "visit_count", "first_seen"):
        offered = next(f for f in types[type_name]["params"] if f["name"] == "op")["options"]
        for op in candidates:
            try:
                compile_rules({"type": type_name, "params": {"name": "x", "op": op}})
                accepted = True
            except ConditionError as exc:
                accepted = not exc.path.endswith("params.op")
            assert accepted == (op in offered), (type_name, op)


def _listing_queries(client: Client, count: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Segment.objects.all().delete()
    Segment.objects.bulk_create(
        Segment(name=f"Segment {i}", slug=f"segment-{i}", rules={"all": []}, status="enabled")
        for i in range(count)
    )
    client.get(INDEX)  # warm what is cached per process (content types, site)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(INDEX)
    assert response.status_code == 200
    assert f"Segment {count - 1}" in response.content.decode()
    return len(queries)


def test_the_listing_costs_the_same_queries_for_3_and_30_segments(editor):
    """Roles read the user's groups once per request, not once per row and button."""
    few, many = _listing_queries(editor, 3), _listing_queries(editor, 30)
    assert few == many
    assert many <= 12, many
