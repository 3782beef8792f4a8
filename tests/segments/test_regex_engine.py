"""Editors' regular expressions: linear time in memory (RE2), in SQLite (RE2 as REGEXP) and in
PostgreSQL (``~``, fed only the subset both engines read alike)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from personalization.consent.services import record_consent
from personalization.profiles.models import VisitorProfile
from personalization.profiles.snapshot import get_snapshot
from personalization.profiles.traits import set_traits
from personalization.segments.base import ConditionError, EvalContext, QContext
from personalization.segments.tree import compile_rules

pytestmark = pytest.mark.django_db

EVIL = "^(a+)+$"  # exponential for a backtracking engine on "aaaa...!"


def trait_regex(pattern: str) -> dict:
    return {"type": "trait", "params": {"name": "tier", "op": "regex", "value": pattern}}


@pytest.mark.parametrize(
    "pattern, message",
    [
        (r"(a)\1", r"\1 is not supported"),
        (r"\bgold\b", r"\b is not supported"),
        ("(?=gold)", "Only (?:...) groups"),
        ("(?P<t>gold)", "Only (?:...) groups"),
        ("gold(?i)", "Only (?:...) groups"),
        ("a{256}", "Repetition counts go up to 255"),
        ("a{1,300}", "Repetition counts go up to 255"),
        ("(unclosed", "Invalid regular expression"),
        ("x" * 201, "At most 200 characters"),
    ],
)
def test_patterns_outside_the_common_subset_are_refused(pattern, message):
    with pytest.raises(ConditionError) as caught:
        compile_rules(trait_regex(pattern))
    assert caught.value.path.endswith("params.value")
    assert message in caught.value.message


@pytest.mark.parametrize("pattern", ["(?i)^GOLD", r"^\w+-\d{1,3}$", "[[:alpha:]]+", "a{255}"])
def test_the_shared_syntax_is_accepted(pattern):
    compile_rules(trait_regex(pattern))


def test_a_catastrophic_pattern_is_linear_in_memory_and_in_sql(visitor):
    set_traits(visitor.id, {"tier": "a" * 999 + "!"})
    node = compile_rules(trait_regex(EVIL))
    now = timezone.now()
    start = time.perf_counter()
    matched = node.matches(EvalContext(snapshot=get_snapshot(visitor.id), now=now))
    in_sql = VisitorProfile.objects.filter(node.possible_q(QContext(now=now))).exists()
    elapsed = time.perf_counter() - start
    # A backtracking engine needs about 2^999 steps here; RE2 and PostgreSQL answer at once.
    assert (matched, in_sql) == (False, False)
    assert elapsed < 2.0


def test_dot_matches_a_newline_as_in_postgresql(db):
    import uuid

    vid = uuid.uuid4()
    record_consent(vid, {"personalization": True})
    set_traits(vid, {"tier": "gold\nplus"})
    node = compile_rules(trait_regex("^gold.plus$"))
    now = timezone.now()
    assert node.matches(EvalContext(snapshot=get_snapshot(vid), now=now))
    assert VisitorProfile.objects.filter(node.possible_q(QContext(now=now))).exists()


# (pattern, text): each is asked of RE2 in memory and of the database (PostgreSQL's ~ when
# DATABASE_URL is set); the answers must agree. Under C.UTF-8 PostgreSQL's \w, \s and
# [[:alpha:]] follow the locale ("é", the vertical tab) where RE2's are ASCII.
AGREEMENT_CASES = [
    (r"^\w+$", "café"),
    (r"^\w+$", "cafe_1"),
    (r"^\W$", "é"),
    (r"a\sb", "a\vb"),
    (r"a\Sb", "a\vb"),
    (r"^[\w-]+$", "über-uns"),
    (r"^[\w-]+$", "ueber-uns"),
    ("^[[:alpha:]]+$", "été"),
    ("^[[:alpha:]]+$", "summer"),
    ("^[^[:alpha:]]+$", "été"),
    (r"^\d+$", "٣"),
    (r"^[[:punct:]]+$", "!?[]\\`{~"),
    (r"^[[:upper:][:digit:]]+$", "AB12"),
    ("(?i)^münchen$", "MÜNCHEN"),
]


@pytest.mark.parametrize("pattern, text", AGREEMENT_CASES)
def test_memory_and_sql_agree_on_the_classes(db, pattern, text):
    import uuid

    vid = uuid.uuid4()
    record_consent(vid, {"personalization": True})
    set_traits(vid, {"tier": text})
    node = compile_rules(trait_regex(pattern))
    now = timezone.now()
    in_memory = node.matches(EvalContext(snapshot=get_snapshot(vid), now=now))
    in_sql = VisitorProfile.objects.filter(node.possible_q(QContext(now=now))).exists()
    assert in_memory == in_sql, (pattern, text, in_memory, in_sql)


@pytest.mark.parametrize(
    "pattern, expected",
    [(r"^\w+$", False), (r"^[\w-]+$", True), ("^[[:alpha:]]+$", False), (r"^\s$", False)],
)
def test_classes_are_ascii_in_both_engines(db, pattern, expected):
    """What the agreement is on: ASCII classes (a stored rule's meaning for RE2, unchanged)."""
    import uuid

    vid = uuid.uuid4()
    record_consent(vid, {"personalization": True})
    set_traits(
        vid, {"tier": {r"^\w+$": "café", r"^[\w-]+$": "a-b", r"^\s$": "\u00a0"}.get(pattern, "été")}
    )
    node = compile_rules(trait_regex(pattern))
    now = timezone.now()
    assert node.matches(EvalContext(snapshot=get_snapshot(vid), now=now)) is expected
    assert VisitorProfile.objects.filter(node.possible_q(QContext(now=now))).exists() is expected


@pytest.mark.parametrize(
    "pattern, message",
    [(r"[\W]", r"\W inside [...] is not supported"), ("[[:cntrl:]]", "[:cntrl:] is not supported")],
)
def test_classes_without_a_common_spelling_are_refused(db, pattern, message):
    """Refused where editors save: a 400 naming the parameter from the builder's estimate."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    editor = get_user_model().objects.create_user("ed", password="pw-ed-12345")
    editor.groups.add(Group.objects.create(name="Personalization editors"))
    client = APIClient()
    client.force_login(editor)
    rules = {"all": [trait_regex(pattern)]}
    response = client.post(
        "/api/personalization/v1/segments/estimate", {"rules": rules}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()["rules.all[0].params.value"]
    assert any(message in e for e in errors), errors
