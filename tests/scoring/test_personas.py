"""Personas: clusters recover known groups, keys and names survive retraining, dissimilar
clusters retire or create personas, new visitors are assigned between retrains, and the
persona condition targets them."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score, silhouette_score

from personalization.privacy.services import erase_visitor
from personalization.profiles.models import VisitorProfile
from personalization.scoring.models import ModelVersion, Persona
from personalization.scoring.services import active_models, assign_visitor, rename_persona
from personalization.scoring.training import fit_personas, match_personas
from personalization.segments.models import Segment, SegmentMembership
from personalization.segments.services import recompute_segment, save_segment

from .helpers import GROUPS, NOW, build_groups, make_visitor, view, visitor_id

pytestmark = pytest.mark.django_db


def personas_of(members: dict) -> dict[str, set[str]]:
    stored = dict(VisitorProfile.objects.values_list("visitor_id", "persona"))
    return {group: {stored[v] for v in ids} for group, ids in members.items()}


def train(*args: str) -> ModelVersion:
    call_command("train_models", "--model", "personas", *args, stdout=__import__("io").StringIO())
    return ModelVersion.objects.filter(name="personas").order_by("-version").first()


# -- plain functions --------------------------------------------------------------------------


def test_fit_personas_finds_well_separated_blobs_and_reports_both_indices():
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0, 0, 0], [6, 0, 6, 0], [0, 6, 0, 6]], dtype=float)
    truth = np.repeat([0, 1, 2], 200)
    x = centres[truth] + rng.normal(0, 0.5, size=(600, 4))
    fit = fit_personas(x, ["a", "b", "c", "d"], k_range=(2, 6), sample_size=600)
    assert fit.k == 3
    assert adjusted_rand_score(truth, fit.labels) == 1.0
    assert [row["k"] for row in fit.per_k] == [2, 3, 4, 5, 6]
    chosen = next(row for row in fit.per_k if row["k"] == 3)
    space = fit.preprocess.transform(x)
    # The reported indices are sklearn's, on the (here: whole) sample in model space.
    assert chosen["silhouette"] == pytest.approx(silhouette_score(space, fit.labels), abs=1e-4)
    assert chosen["davies_bouldin"] == pytest.approx(
        davies_bouldin_score(space, fit.labels), abs=1e-4
    )
    assert all(row["silhouette"] < chosen["silhouette"] for row in fit.per_k if row["k"] != 3)


def test_matching_pairs_similar_centroids_and_leaves_far_ones_unmatched():
    means, scales = {"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 2.0}
    old = [{"a": 1.0, "b": 0.0}, {"a": -1.0, "b": 4.0}]
    new = [{"a": -1.2, "b": 4.0}, {"a": 1.0, "b": 0.4}, {"a": 9.0, "b": -9.0}]
    matched, dist = match_personas(new, old, means=means, scales=scales, threshold=1.0)
    # new 0 ~ old 1: sqrt(((-1.2 - -1)^2 + 0^2) / 2); new 1 ~ old 0: sqrt((0 + 0.2^2) / 2)
    assert dist[0, 1] == pytest.approx(np.sqrt(0.04 / 2))
    assert dist[1, 0] == pytest.approx(np.sqrt(0.04 / 2))
    assert matched == {0: 1, 1: 0}  # the third is far from both: a new persona
    # As many new clusters as old ones, one of them far: the assignment pairs it, the threshold
    # refuses it (the old persona retires, the new cluster gets a new key).
    matched, dist = match_personas(new[1:], old, means=means, scales=scales, threshold=1.0)
    assert dist[1, 1] > 1.0
    assert matched == {0: 0}


# -- through the database ---------------------------------------------------------------------


def test_training_recovers_the_groups_and_describes_them():
    members = build_groups(GROUPS)
    version = train()
    assert version.status == ModelVersion.Status.READY and version.is_active
    assert version.metrics["k"] == 3
    found = personas_of(members)
    assert all(len(keys) == 1 for keys in found.values()), found
    truth = [g for g, ids in members.items() for _ in ids]
    stored = dict(VisitorProfile.objects.values_list("visitor_id", "persona"))
    assigned = [stored[v] for ids in members.values() for v in ids]
    assert adjusted_rand_score(truth, assigned) == 1.0
    by_key = {p.key: p for p in Persona.objects.all()}
    security = by_key[found["security"].pop()]
    pricing = by_key[found["pricing"].pop()]
    devops = by_key[found["devops"].pop()]
    assert "security" in security.description and "enterprise" in security.description
    assert "mobile" in pricing.description and "pricing" in pricing.description
    assert "buyers" in devops.description
    assert security.size == pricing.size == devops.size == 12


def test_keys_and_edited_names_survive_a_retrain_and_dissimilar_clusters_retire():
    members = build_groups(GROUPS)
    train()
    first = {g: keys.pop() for g, keys in personas_of(members).items()}
    rename_persona(Persona.objects.get(key=first["security"]), "Security buyers")
    # More of the same behaviour: the clusters move a little and keep their keys and names.
    build_groups(GROUPS, per_group=4, seed=9)  # the first 4 of each group, more events
    second = train()
    assert second.version == 2 and second.is_active
    assert all(c["inherited"] for c in second.metrics["clusters"])
    again = {g: keys.pop() for g, keys in personas_of(members).items()}
    assert again == first
    assert Persona.objects.get(key=first["security"]).name == "Security buyers"

    # The devops buyers leave (erased); AI readers on tablets arrive: no similar old cluster.
    for vid in members.pop("devops"):
        erase_visitor(vid)
    members.update(build_groups({"ai": (["ai", "analytics"], "news", "tablet", False)}))
    third = train()
    now_keys = personas_of(members)
    assert now_keys["security"] == {first["security"]}
    assert now_keys["pricing"] == {first["pricing"]}
    (ai_key,) = now_keys["ai"]
    assert ai_key not in first.values()
    retired = Persona.objects.get(key=first["devops"])
    assert retired.retired_at is not None
    assert {c["key"]: c["inherited"] for c in third.metrics["clusters"]}[ai_key] is False

    # Rolling back to version 2 brings the retired key back and retires the new one.
    call_command("train_models", "--rollback", "personas", stdout=__import__("io").StringIO())
    assert ModelVersion.objects.get(name="personas", is_active=True).version == 2
    assert Persona.objects.get(key=first["devops"]).retired_at is None
    assert Persona.objects.get(key=ai_key).retired_at is not None


def test_new_visitors_get_the_nearest_persona_as_they_are_folded_without_refitting():
    members = build_groups(GROUPS)
    train()
    security_key = personas_of(members)["security"].pop()
    versions = ModelVersion.objects.count()
    newcomer = make_visitor(
        visitor_id("newcomer", 1),
        {2: [view(["security"], "case-studies")] * 3, 5: [view(["enterprise"], "case-studies")]},
    )
    assert VisitorProfile.objects.get(visitor_id=newcomer).persona == security_key
    assert ModelVersion.objects.count() == versions


def test_assignment_in_the_fold_costs_a_cache_read_without_models_and_four_queries_with_them(
    django_assert_num_queries,
):
    with override_settings(PERSONALIZATION_SCORING_REALTIME=False):
        vid = make_visitor(visitor_id("cost", 1), {3: [view(["security"], "case-studies")]})
    active_models()  # this process loads the (empty) set once per version
    with django_assert_num_queries(0):
        assert assign_visitor(vid, now=NOW) is False
    with override_settings(PERSONALIZATION_SCORING_REALTIME=False):
        build_groups(GROUPS)
    train()
    active_models()
    # As if the visitor had been folded after the batch run: no persona yet.
    VisitorProfile.objects.filter(visitor_id=vid).update(persona="")
    # The snapshot (profile, counters, consent) and one UPDATE; no training, no model query.
    with django_assert_num_queries(4):
        assert assign_visitor(vid, now=NOW) is True
    with django_assert_num_queries(3):
        assert assign_visitor(vid, now=NOW) is False  # unchanged: nothing written


def test_a_persona_segment_holds_exactly_the_personas_visitors():
    members = build_groups(GROUPS)
    train()
    key = personas_of(members)["pricing"].pop()
    segment = save_segment(
        Segment(
            slug="pricing-persona",
            name="Pricing persona",
            status=Segment.Status.ENABLED,
            rules={"type": "persona", "params": {"in": [key]}},
        )
    )
    recompute_segment(segment)
    held = set(
        SegmentMembership.objects.filter(segment=segment).values_list("visitor_id", flat=True)
    )
    assert held == set(members["pricing"])


@pytest.mark.parametrize("keys", [[], [""], ["x" * 65], [3]])
def test_the_persona_condition_names_the_field_of_a_bad_key(keys):
    from personalization.segments.base import ConditionError
    from personalization.segments.tree import compile_rules

    with pytest.raises(ConditionError) as caught:
        compile_rules({"type": "persona", "params": {"in": keys}})
    assert caught.value.path.endswith("params.in")


def test_rescoring_reads_two_queries_per_chunk_and_writes_only_changes(
    django_assert_num_queries,
):
    from personalization.scoring.services import apply_models

    build_groups(GROUPS, per_group=4)
    train()
    active_models()
    # 12 profiles in chunks of 5: a count, then (profiles, counters) for chunks of 5, 5 and 2;
    # nothing changed, so nothing is written.
    with django_assert_num_queries(7):
        assert apply_models(chunk=5, now=NOW) == {"profiles": 12, "changed": 0}
    VisitorProfile.objects.filter(visitor_id=visitor_id("security", 0)).update(persona="")
    result = apply_models(chunk=5, now=NOW)
    assert result == {"profiles": 12, "changed": 1}
    assert VisitorProfile.objects.get(visitor_id=visitor_id("security", 0)).persona


@pytest.mark.parametrize("algorithm", ["kmeans", "agglomerative", "dbscan"])
def test_the_other_algorithms_find_the_same_blobs(algorithm):
    rng = np.random.default_rng(4)
    centres = np.array([[0, 0, 0], [6, 6, 0], [0, 6, 6]], dtype=float)
    truth = np.repeat([0, 1, 2], 150)
    x = centres[truth] + rng.normal(0, 0.5, size=(450, 3))
    fit = fit_personas(x, ["a", "b", "c"], k_range=(2, 5), algorithm=algorithm, sample_size=450)
    assert fit.k == 3
    assert adjusted_rand_score(truth, fit.labels) == 1.0
    # Serving assigns by nearest centroid: the training rows land where they were clustered.
    assert adjusted_rand_score(fit.labels, fit.assign(x)) == 1.0


@pytest.mark.parametrize("algorithm", ["minibatch_kmeans", "agglomerative"])
def test_k_chosen_on_a_subset_is_then_fitted_on_every_row(algorithm):
    rng = np.random.default_rng(5)
    centres = np.array([[0, 0, 0], [6, 6, 0], [0, 6, 6], [6, 0, 6]], dtype=float)
    truth = rng.integers(0, 4, 3000)
    x = centres[truth] + rng.normal(0, 0.5, size=(3000, 3))
    fit = fit_personas(x, ["a", "b", "c"], k_range=(2, 6), algorithm=algorithm, selection_size=400)
    assert fit.k == 4 and len(fit.labels) == 3000
    assert adjusted_rand_score(truth, fit.labels) == 1.0
