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
