"""Training through the command, serving through the API, template tags, privacy."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from wagtail.models import Page

from personalization.consent.services import record_consent
from personalization.events.models import Event
from personalization.privacy.services import erase_visitor, export_visitor
from personalization.recommendations.models import (
    Interaction,
    RecommenderVersion,
    VisitorRecommendations,
)
from personalization.recommendations.serving import visitor_key
from personalization.visitor_cache import cache

from ..redis_traffic import redis_traffic
from .conftest import NOW, TOPICS, buffered, token, train_now, view, written_impressions

URL = "/api/personalization/v1/recommendations"
pytestmark = pytest.mark.django_db


def get(visitor=None, **params):
    client = APIClient()
    headers = {"HTTP_X_VISITOR_ID": token(visitor)} if visitor else {}
    return client.get(URL, params, **headers)


def reader(site, topic, items, consent=True):
    """A new visitor who read some articles of a topic (after training)."""
    vid = uuid.uuid4()
    if consent:
        record_consent(vid, {"analytics": True, "personalization": True})
    for k, i in enumerate(items):
        view(vid, site["pages"][(topic, i)], NOW - timedelta(hours=k + 1))
    return vid


def test_training_stores_a_version_with_window_params_and_metrics(history, capsys):
    train_now("--algorithm", "ease", "--params", '{"l2": 10}')
    out = capsys.readouterr().out
    assert "100% Ready" in out and "ndcg@10" in out
    version = RecommenderVersion.objects.get()
    assert version.is_active and version.status == "ready" and version.params == {"l2": 10}
    assert version.data_end == NOW and version.data_start == NOW - timedelta(days=365)
    assert version.n_visitors == 30 and version.n_interactions == 90
    # every live page is an item (pages nobody read yet too: content models can reach them)
    assert version.n_items == Page.objects.live().public().exclude(depth=1).count() == 11
    for split in ("time", "random"):
        assert set(version.metrics[split]) == {"model", "popularity"}
        assert "ndcg@10" in version.metrics[split]["model"]
    # every consenting visitor active in the last 30 days has a stored list
    assert VisitorRecommendations.objects.filter(version=version).count() == 30


def test_a_reader_gets_the_unread_article_of_their_topic_with_a_reason(history, site):
    train_now("--algorithm", "item_knn")
    vid = next(v for v, topic in history.items() if topic == "python")
    response = get(vid, limit=3, placement="home")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "precomputed" and body["placement"] == "home"
    assert body["model_version"] == RecommenderVersion.objects.get().pk
    first = body["items"][0]
    read = {
        p.title
        for (topic, _), p in site["pages"].items()
        if Event.objects.filter(visitor_id=vid, properties__page_id=p.pk).exists()
    }
    assert len(read) == 3
    assert first["title"] in set(TOPICS["python"]) - read  # the one python article not read
    assert first["reason"]["code"] == "because_you_viewed"
    assert first["reason"]["text"].startswith("Because you viewed “")
    assert first["url"].startswith("/") and first["id"].isdigit()
    impression = written_impressions().get(decision_id=body["decision_id"])
    assert impression.visitor_id == vid and impression.placement == "home"
    assert impression.items == [item["id"] for item in body["items"]]


def test_seen_items_are_excluded_and_on_the_fly_scoring_covers_new_visitors(history, site):
    train_now("--algorithm", "item_knn")
    vid = reader(site, "garden", [0, 1])  # no stored list: scored from recent items
    body = get(vid, limit=2, diversity=1).json()
    assert body["source"] == "on_the_fly"
    titles = [item["title"] for item in body["items"]]
    assert set(titles) == {TOPICS["garden"][2], TOPICS["garden"][3]}
    assert {item["reason"]["code"] for item in body["items"]} == {"because_you_viewed"}
    # A long list is filled with popular items, but never the ones the visitor has read.
    everything = [item["title"] for item in get(vid, limit=50).json()["items"]]
    assert len(everything) > 2
    assert not {TOPICS["garden"][0], TOPICS["garden"][1]} & set(everything)
    assert (
        get(vid, limit=50, exclude_seen=False).json()["items"] != get(vid, limit=50).json()["items"]
    )


def test_over_the_time_budget_a_new_visitor_gets_popular_items(history, site, settings):
    train_now("--algorithm", "item_knn")
    settings.PERSONALIZATION_RECOMMENDATIONS_TIME_BUDGET_MS = 0
    vid = reader(site, "garden", [0, 1])
    assert get(vid, limit=2).json()["source"] == "popular"


def test_visitors_without_consent_or_id_get_popular_items(history, site):
    train_now("--algorithm", "ease")
    anonymous = get(limit=4).json()
    assert anonymous["source"] == "popular" and len(anonymous["items"]) == 4
    assert {item["reason"]["code"] for item in anonymous["items"]} == {"popular"}
    no_consent = reader(site, "garden", [0, 1], consent=False)
    assert get(no_consent, limit=4).json()["source"] == "popular"
    assert not written_impressions().filter(visitor_id=no_consent).exists()


def test_no_model_yet_is_an_empty_answer_not_an_error(site):
    body = get(limit=3).json()
    assert body["items"] == [] and body["source"] == "none" and body["model_version"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 51}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"context_item": "x" * 65}, "context_item"),
        ({"context_item": "a\x00b"}, "context_item"),
        ({"placement": "not a slug!"}, "placement"),
        ({"page_type": "Robert'); DROP"}, "page_type"),
        ({"diversity": 2}, "diversity"),
        ({"visitor_id": "abc"}, "visitor_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_400s_naming_the_field(site, params, field):
    response = get(**params)
    assert response.status_code == 400
    assert field in response.json()


def test_visitor_id_in_the_url_is_refused_with_where_to_send_it(site):
    response = get(visitor_id=str(uuid.uuid4()))
    assert response.status_code == 400
    assert "X-Visitor-Id header" in response.json()["visitor_id"][0]


def test_a_forged_visitor_header_is_a_400(site):
    response = APIClient().get(URL, HTTP_X_VISITOR_ID=f"{uuid.uuid4()}:forged")
    assert response.status_code == 400 and "X-Visitor-Id" in response.json()


def test_context_item_gives_more_like_this_and_filters_apply(history, site):
    train_now("--algorithm", "item_knn")
    page = site["pages"][("python", 0)]
    body = get(context_item=page.pk, limit=3, page_type="demo.articlepage").json()
    assert body["items"]
    assert str(page.pk) not in [item["id"] for item in body["items"]]
    python_titles = set(TOPICS["python"])
    assert body["items"][0]["title"] in python_titles
    assert body["items"][0]["reason"]["code"] == "similar_to"
    assert get(context_item=page.pk, page_type="demo.productpage").json()["items"] == []


def test_warm_requests_read_no_table_but_write_one_impression(history, django_assert_num_queries):
    train_now("--algorithm", "item_knn")
    vid = next(iter(history))
    assert get(vid, limit=3).status_code == 200  # warms snapshot and catalogue
    # With Redis the impression is one RPUSH (no query); without, one INSERT.
    with django_assert_num_queries(0 if buffered() else 1):
        assert get(vid, limit=3).json()["source"] == "precomputed"
    assert written_impressions().filter(visitor_id=vid).count() == 2
    anonymous_cost = 0
    with django_assert_num_queries(anonymous_cost):  # nothing to record for anonymous
        assert get(limit=3).status_code == 200


@pytest.mark.skipif(not buffered(), reason="counts round trips to a real Redis")
@pytest.mark.parametrize("more_like_this", [False, True])
def test_a_warm_call_is_one_redis_round_trip_and_no_sql(history, site, settings, more_like_this):
    """Versions, snapshot, active version, the visitor's list, popular lists (and the context
    item's neighbours) are read, the default rate limits counted, and the impression the
    previous call left waiting appended, in one round trip."""
    train_now("--algorithm", "item_knn")
    vid = next(iter(history))
    params = {"limit": 3, "placement": "home"}
    if more_like_this:
        params["context_item"] = site["pages"][("python", 0)].pk
    for _ in range(2):  # warm; the second call leaves its impression waiting
        assert get(vid, **params).status_code == 200
    with redis_traffic() as seen, CaptureQueriesContext(connection) as queries:
        response = get(vid, **params)
    assert response.json()["source"] == "precomputed"
    assert seen == {"round_trips": 1, "clients_built": 0}, seen
    assert [q["sql"] for q in queries.captured_queries] == []


def test_activate_and_rollback(history, site, capsys):
    train_now("--algorithm", "ease")
    late = reader(site, "python", [0, 1])  # arrives between the two trainings
    train_now("--algorithm", "item_knn")
    assert VisitorRecommendations.objects.filter(visitor_id=late).count() == 1
    assert get(late).json()["source"] == "precomputed"
    first, second = RecommenderVersion.objects.order_by("pk")
    assert not RecommenderVersion.objects.get(pk=first.pk).is_active
    vid = next(iter(history))
    assert get(vid).json()["model_version"] == second.pk
    call_command("train_recommenders", "--rollback")
    assert RecommenderVersion.objects.get(is_active=True).pk == first.pk
    assert get(vid).json()["model_version"] == first.pk  # the cached lists followed
    # A visitor who only has a list in the newer version must not be served it any more.
    assert not VisitorRecommendations.objects.filter(version=first, visitor_id=late).exists()
    assert get(late).json()["source"] != "precomputed"
    with pytest.raises(CommandError, match="No earlier version"):
        call_command("train_recommenders", "--rollback")


def test_bad_training_options(history):
    with pytest.raises(CommandError, match="not JSON"):
        train_now("--params", "{oops")
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("train_recommenders", "--now", "yesterday")


def test_erasure_removes_interactions_lists_and_impressions_and_export_has_them(
    history, site, tmp_path
):
    vid = next(v for v, t in history.items() if t == "python")
    Interaction.objects.create(
        visitor_id=vid, item_id="42", weight=1.0, timestamp=NOW, source="csv"
    )
    train_now("--algorithm", "item_knn")
    get(vid, limit=2)
    written_impressions()
    get(vid, limit=2)  # this one may still wait in the buffer when erasure comes
    assert cache().get(visitor_key(vid)) is not None
    tables = export_visitor(vid)["tables"]
    assert len(tables["personalization.Interaction"]) == 1
    assert len(tables["personalization.VisitorRecommendations"]) == 1
    assert len(tables["personalization.RecommendationImpression"]) >= 1
    erase_visitor(vid)
    assert not Interaction.objects.filter(visitor_id=vid).exists()
    assert not VisitorRecommendations.objects.filter(visitor_id=vid).exists()
    assert not written_impressions().filter(visitor_id=vid).exists()
    assert cache().get(visitor_key(vid)) is None
    assert get(vid).json()["source"] != "precomputed"
    # the next training run no longer knows them
    train_now("--algorithm", "item_knn")
    assert RecommenderVersion.objects.get(is_active=True).n_visitors == 29


def test_withdrawing_consent_drops_the_stored_list(history):
    train_now("--algorithm", "item_knn")
    vid = next(iter(history))
    record_consent(vid, {"personalization": False})
    assert not VisitorRecommendations.objects.filter(visitor_id=vid).exists()
    assert get(vid).json()["source"] == "popular"


def test_retraining_waits_for_enough_new_events(history, site, settings):
    from personalization.recommendations.training import train_if_enough_new_events
    from personalization.tasks import retrain_recommenders_if_needed

    settings.PERSONALIZATION_RETRAIN_AFTER_EVENTS = 3
    first = train_if_enough_new_events(now=NOW)  # no model yet and there are events
    assert first is not None and first.is_active and first.data_end == NOW
    assert train_if_enough_new_events(now=NOW) is None  # nothing new
    later = NOW + timedelta(hours=1)
    for n in range(2):
        view(uuid.uuid4(), site["pages"][("python", n)], later)
    assert train_if_enough_new_events(now=later) is None  # 2 < 3
    view(uuid.uuid4(), site["pages"][("python", 2)], later)
    second = train_if_enough_new_events(now=later)
    assert second is not None and second.pk != first.pk and second.is_active
    settings.PERSONALIZATION_RETRAIN_AFTER_EVENTS = 10**6
    assert retrain_recommenders_if_needed() is None  # the beat task, as Celery calls it


def test_buffered_impressions_of_visitors_who_withdrew_consent_are_dropped(history):
    if not buffered():
        pytest.skip("needs Redis as the cache (REDIS_URL)")
    train_now("--algorithm", "item_knn")
    stays, leaves = list(history)[:2]
    get(stays)
    get(leaves)
    record_consent(leaves, {"analytics": False, "personalization": False})
    assert {i.visitor_id for i in written_impressions()} == {stays}


def test_diversity_spreads_a_list_across_topics(history, site):
    train_now("--algorithm", "item_knn")
    python_reader = next(v for v, topic in history.items() if topic == "python")

    def topics(**params):
        items = get(python_reader, limit=3, **params).json()["items"]
        return ["python" if i["title"] in TOPICS["python"] else "garden" for i in items]

    # Pure relevance: the unread python article first, then popular items.
    assert topics(diversity=1)[0] == "python"
    # Pure diversity: after the first pick, the least similar page (Jaccard of tags) comes next.
    diverse = topics(diversity=0)
    assert diverse[0] != diverse[1]


GARDENERS = {"type": "trait", "params": {"name": "hobby", "op": "equals", "value": "garden"}}


def gardeners_segment(history) -> None:
    """A segment of the garden readers (a trait), with stored memberships before training."""
    from personalization.profiles.traits import set_traits
    from personalization.segments.models import Segment
    from personalization.segments.services import save_segment

    save_segment(Segment(name="Gardeners", slug="gardeners", rules=GARDENERS, status="enabled"))
    for vid, topic in history.items():
        if topic == "garden":
            set_traits(vid, {"hobby": "garden"})
    call_command("recompute_segments", "--segment", "gardeners", stdout=StringIO())


def test_a_newcomer_in_a_segment_gets_what_that_segment_reads(history, site):
    from personalization.profiles.traits import set_traits

    gardeners_segment(history)
    train_now("--algorithm", "ease")
    newcomer, outsider = uuid.uuid4(), uuid.uuid4()
    for vid in (newcomer, outsider):
        record_consent(vid, {"analytics": True, "personalization": True})
    set_traits(newcomer, {"hobby": "garden"})
    body = get(newcomer, limit=4).json()
    assert body["source"] == "popular"
    assert [i["reason"]["code"] for i in body["items"]] == ["popular_in_segment"] * 4
    assert sorted(i["title"] for i in body["items"]) == sorted(TOPICS["garden"])
    everyone = get(outsider, limit=4).json()["items"]
    assert [i["reason"]["code"] for i in everyone] == ["popular"] * 4


@pytest.mark.parametrize("split_by_segment", [False, True])
def test_segments_are_evaluated_only_when_a_popular_list_is_split_by_them(
    history, split_by_segment, django_assert_num_queries
):
    """Segments only pick a segment's popular list: when the lists are not split, an edited
    segment (whose definitions a segment evaluation would load again) costs the endpoint no
    query."""
    from personalization.segments.models import Segment
    from personalization.segments.services import save_segment

    if split_by_segment:
        gardeners_segment(history)
    train_now("--algorithm", "item_knn")
    vid = next(iter(history))
    assert get(vid, limit=3).status_code == 200  # warm
    phones = {"type": "device", "params": {"in": ["mobile"]}}
    save_segment(Segment(name="Phones", slug="phones", rules=phones, status="enabled"))
    loads_definitions = 1 if split_by_segment else 0
    with django_assert_num_queries(loads_definitions + (0 if buffered() else 1)):
        assert get(vid, limit=3).json()["source"] == "precomputed"
