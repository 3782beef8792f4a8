"""Property tests (Hypothesis, derandomized): generated rule trees are judged the same by the
in-memory predicate and by SQL, over one fixed set of stored profiles."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personalization.profiles.models import VisitorProfile
from personalization.profiles.snapshot import get_snapshot
from personalization.segments.base import EvalContext, QContext
from personalization.segments.tree import compile_rules

from .test_conditions_agree import PROFILE_TYPES, make_profiles, random_params

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(
    max_examples=60,
    derandomize=True,  # the same trees on every run and machine
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def leaves(draw):
    type_name = draw(st.sampled_from(PROFILE_TYPES))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    return {"type": type_name, "params": random_params(rng, type_name)}


trees = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=6,
)


class Profiles(tuple):
    def __repr__(self) -> str:  # Hypothesis prints fixtures with a failing example
        return f"<{len(self[0])} stored profiles>"


@pytest.fixture
def stored_profiles(db):
    ids = make_profiles(random.Random(20261130), 30)
    snapshots = {vid: s for vid in ids if (s := get_snapshot(vid)).exists}
    assert len(snapshots) > 15
    return Profiles((ids, snapshots))


@PROPERTY_SETTINGS
@given(rules=trees)
def test_predicate_and_sql_agree_on_generated_trees(stored_profiles, rules):
    ids, snapshots = stored_profiles
    node = compile_rules(rules)
    now = timezone.now()
    in_memory = {
        vid
        for vid, snap in snapshots.items()
        if node.matches(EvalContext(snapshot=snap, now=now, segment_slug="s"))
    }
    in_sql = set(
        VisitorProfile.objects.filter(
            node.possible_q(QContext(now=now, segment_slug="s")), visitor_id__in=ids
        ).values_list("visitor_id", flat=True)
    )
    assert in_memory == in_sql, rules
