"""A stock Wagtail site: no Celery app (so no broker), maybe no Redis, the host's own DRF
defaults. The plugin works in the request there, never answers 500 because a broker is missing
or down, and ``manage.py check`` names what is missing. The end-to-end version, on a real
``wagtail start`` project built from the wheel, is ``tests/install/check_install.py``."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import Client, override_settings

from cms_site.celery import app as celery_app
from personalization.celery import QUEUES, TASK_QUEUES, beat_schedule, task_routes
from personalization.events.models import Event
from personalization.profiles.snapshot import get_snapshot
from personalization.segments.models import Segment
from personalization.variants.models import Impression

from .conftest import EVENTS_URL, Visitor
from .rendering.conftest import add_article, make_segment, standard_block

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.fixture
def no_broker():
    """Celery as a fresh project has it: no broker named, not eager."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager
    conf.broker_url, conf.task_always_eager = None, False
    yield
    conf.broker_url, conf.task_always_eager = saved


def _forget_connection_pools():
    # Celery keeps its connection pools per app; kombu keeps them per broker URL, so the
    # real broker's pool is found again once its URL is back.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broken_broker():
    """A broker is configured, but nothing listens there (it is down)."""
    from personalization import background

    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager
    conf.broker_url, conf.task_always_eager = "redis://127.0.0.1:9/0", False
    _forget_connection_pools()
    background._broker_down_until[0] = 0.0  # no earlier test's failure is remembered
    yield
    conf.broker_url, conf.task_always_eager = saved
    _forget_connection_pools()


@pytest.fixture
def page(db):
    from wagtail.models import Page, Site

    from cms_site.demo.models import HomePage

    root = Page.get_first_root_node()
    home = root.add_child(instance=HomePage(title="Home", slug="home-under-test"))
    Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": "localhost", "root_page": home, "port": 80}
    )
    return add_article(home, [standard_block()])


def _viewers_segment() -> Segment:
    return make_segment(
        "viewers", {"type": "event_count", "params": {"event": "page_view", "op": ">=", "value": 1}}
    )


# -- no broker: everything in the request ------------------------------------------------------


def test_without_a_broker_page_views_fold_and_segments_follow_in_the_request(no_broker, page):
    segment = _viewers_segment()
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    assert v.client.get(page.url).status_code == 200
    snap = get_snapshot(v.id)
    assert snap.count("page_view") == 1  # folded in the request: no worker exists
    assert (
        segment.slug
        in v.client.get(
            f"/api/personalization/v1/visitors/{v.id}/segments", HTTP_X_VISITOR_ID=v.token
        ).json()["segments"]
    )


def test_without_a_broker_recompute_now_runs_in_the_request(
    no_broker, page, django_capture_on_commit_callbacks
):
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    v.client.get(page.url)
    segment = _viewers_segment()
    Segment.objects.filter(pk=segment.pk).update(member_count=0)
    admin = get_user_model().objects.create_superuser("root", "r@example.com", "x")
    client = Client()
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/personalization/segments/recompute/{segment.pk}/")
    assert response.status_code == 302
    assert Segment.objects.get(pk=segment.pk).member_count == 1


def test_without_a_broker_impressions_are_written_in_the_request(no_broker, page):
    from personalization.variants.models import PersonalizedContent

    from .rendering.conftest import VIP_VARIANT, variant

    PersonalizedContent.objects.create(
        name="Banner",
        slug="banner",
        variants=[{"type": "variant", "value": variant(VIP_VARIANT, [], "x")["value"]}],
        fallback=[{"type": "paragraph", "value": "<p>everyone</p>"}],
    )
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    response = v.client.post(
        "/api/personalization/v1/decide",
        {"placements": ["banner"]},
        format="json",
        HTTP_X_VISITOR_ID=v.token,
    )
    assert response.status_code == 200
    decision = response.json()["placements"]["banner"]["decision_id"]
    # No beat will ever flush a Redis buffer here: the row is in the database already.
    assert Impression.objects.filter(visitor_id=v.id, decision_id=decision).count() == 1


@pytest.mark.parametrize("inline_max", [0, 20], ids=["every-batch-sent", "small-batch-inline"])
def test_a_broker_that_is_down_never_fails_the_visitor(
    broken_broker, page, caplog, django_capture_on_commit_callbacks, settings, inline_max
):
    """Whether a browser's batch is folded in the request anyway (the default) or sent to the
    workers (``INLINE_FOLD_MAX_EVENTS = 0``), a broker that is down costs the visitor nothing."""
    settings.PERSONALIZATION_INLINE_FOLD_MAX_EVENTS = inline_max
    v = Visitor()
    v.consent(analytics=True, personalization=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = v.client.get(page.url)
        sent = v.send({"type": "click", "id": "c1"})
    assert response.status_code == 200
    assert sent.status_code == 202
    # The work ran in the request, and the failed send is in the log: the page view's, which
    # goes to the workers either way (a page being served never waits for its fold); the
    # click's fold ran in the request (inline, or the broker was known to be down by then).
    assert get_snapshot(v.id).event_count == 2
    assert caplog.text.count("Could not send personalization.fold_profile") == 1


# -- system checks -------------------------------------------------------------------------------


def _ids(**kwargs) -> set[str]:
    return {m.id for m in run_checks(**kwargs)}


@pytest.mark.django_db
def test_check_catches_rules_missing_from_installed_apps():
    # Reloading INSTALLED_APPS remounts Wagtail's APIs; the app registry is asked instead.
    # (tests/install/check_install.py removes it from a real project's settings.)
    from django.apps import apps

    assert "personalization.E008" not in _ids()
    installed = apps.is_installed
    with mock.patch.object(apps, "is_installed", lambda name: name != "rules" and installed(name)):
        assert "personalization.E008" in _ids()


def test_check_refuses_task_mode_without_a_broker(no_broker, settings):
    settings.PERSONALIZATION_FOLD_MODE = "task"
    assert "personalization.E009" in _ids()
    settings.PERSONALIZATION_FOLD_MODE = "auto"
    assert "personalization.E009" not in _ids()


def test_check_catches_an_unreachable_cache_in_development(settings):
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    with override_settings(DEBUG=True, CACHES=unreachable):
        messages = [m for m in run_checks() if m.id == "personalization.E010"]
        assert messages and "LocMemCache" in messages[0].hint
    with override_settings(DEBUG=False, CACHES=unreachable):
        assert "personalization.E010" not in _ids()  # production start-up never waits on it
    assert "personalization.E010" not in _ids()


# -- the host's DRF defaults do not matter -----------------------------------------------------


STOCK_DRF = """
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "cms_site.settings"
from django.conf import settings
settings.REST_FRAMEWORK = {}  # a project that never configured DRF, before anything imports it
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.test import Client
response = Client().get("/api/personalization/v1/schema")
print(response.status_code, b"/api/personalization/v1/events" in response.content)
"""


def test_schema_answers_whatever_the_hosts_drf_defaults():
    # In a fresh process: drf-spectacular reads the host's default when our modules are imported.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", STOCK_DRF], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.stdout.split() == ["200", "True"], result.stderr[-3000:]


@pytest.mark.django_db
@pytest.mark.parametrize(("keys", "hint"), [({}, "none"), ({"crm": "right"}, "must equal")])
def test_an_unknown_api_key_names_the_setting(settings, keys, hint):
    settings.PERSONALIZATION_API_KEYS = keys
    response = Client().post(
        EVENTS_URL, {"events": []}, "application/json", HTTP_AUTHORIZATION="Api-Key wrong"
    )
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "PERSONALIZATION_API_KEYS" in detail and hint in detail


# -- queues and beat -----------------------------------------------------------------------------


def _readme_worker_queues() -> set[str]:
    commands = re.findall(r"celery -A \S+ worker -Q (\S+)", README)
    assert commands, "the README names no worker command"
    return set(commands[0].split(","))


def test_every_task_goes_to_a_queue_the_readmes_worker_consumes():
    from personalization import tasks  # noqa: F401  (registers the tasks)

    ours = {n: t for n, t in celery_app.tasks.items() if n.startswith("personalization.")}
    assert set(ours) == set(TASK_QUEUES)
    consumed = _readme_worker_queues()
    for name, task in ours.items():
        assert task.queue in QUEUES and task.queue in consumed, name
        assert task_routes()[name] == {"queue": task.queue}
        # What Celery's router does with the host's settings (the demo uses task_routes()).
        assert celery_app.amqp.router.route({}, name)["queue"].name == task.queue


def test_the_beat_schedule_covers_every_periodic_task_the_readme_names():
    schedule = {entry["task"]: entry for entry in beat_schedule().values()}
    named = set(re.findall(r"`(personalization\.[a-z_]+)`[^`]*(?:beat|every)", README))
    assert named and named <= set(schedule)
    assert schedule["personalization.flush_impressions"]["schedule"] == 10.0
    assert schedule["personalization.recompute_time_dependent_segments"]["schedule"] == 300.0
    for name, entry in schedule.items():
        assert entry["options"]["queue"] == TASK_QUEUES[name]


# -- roles ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_personalization_roles_makes_groups_an_editor_can_use():
    out = io.StringIO()
    call_command("create_personalization_roles", stdout=out)
    call_command("create_personalization_roles", stdout=out)  # again: nothing changes
    assert out.getvalue().count("Created group") == 3 and out.getvalue().count("Kept group") == 3
    names = {
        "Personalization editors",
        "Personalization analysts",
        "Personalization privacy officers",
    }
    assert set(Group.objects.filter(name__in=names).values_list("name", flat=True)) == names
    user = get_user_model().objects.create_user("ed", password="x")
    user.groups.add(Group.objects.get(name="Personalization editors"))
    client = Client()
    client.force_login(user)
    assert client.get("/admin/personalization/segments/").status_code == 200


# -- trusted event types -----------------------------------------------------------------------


PURCHASE = {"type": "purchase", "id": "o-1", "properties": {"value": 900}}


@pytest.mark.django_db
def test_a_browser_cannot_send_a_purchase_for_itself(visitor):
    response = visitor.send(PURCHASE)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "events[0].type"
    assert "PERSONALIZATION_BROWSER_EVENT_TYPES" in response.json()["errors"][0]["message"]
    assert not Event.objects.filter(visitor_id=visitor.id).exists()
    assert get_snapshot(visitor.id).monetary_total == 0


@pytest.mark.django_db
def test_a_server_signature_lets_the_browser_relay_it_for_that_visitor_only(visitor):
    from personalization.events.validation import sign_event

    assert visitor.send(sign_event(visitor.id, PURCHASE)).json()["accepted"] == 1
    other = Visitor()
    other.consent(analytics=True, personalization=True)
    stolen = other.send(sign_event(visitor.id, {**PURCHASE, "id": "o-2"}))
    assert stolen.json()["errors"][0]["field"] == "events[0].signature"
    tampered = {**sign_event(visitor.id, {**PURCHASE, "id": "o-3"}), "properties": {"value": 9e5}}
    assert visitor.send(tampered).json()["errors"][0]["field"] == "events[0].signature"
    unsigned_id = sign_event(visitor.id, PURCHASE) | {"id": None}
    assert visitor.send(unsigned_id).json()["errors"][0]["field"] == "events[0].id"
    assert get_snapshot(visitor.id).monetary_total == 900.0


@pytest.mark.django_db
def test_servers_send_trusted_types_with_their_key_and_the_browser_safe_set_is_a_setting(
    visitor, api_key, settings
):
    server = Client()
    body = {"visitor_id": str(visitor.id), "events": [PURCHASE]}
    response = server.post(EVENTS_URL, body, "application/json", HTTP_AUTHORIZATION=api_key)
    assert response.json()["accepted"] == 1
    settings.PERSONALIZATION_BROWSER_EVENT_TYPES = ["page_view", "purchase"]
    assert visitor.send({**PURCHASE, "id": "o-9"}).json()["accepted"] == 1
    assert visitor.send({"type": "click"}).json()["errors"][0]["field"] == "events[0].type"


# -- declared versions ----------------------------------------------------------------------------


def test_readme_pyproject_and_the_test_matrix_name_the_same_versions():
    import tomllib

    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    classifiers = project["classifiers"]

    def declared(prefix: str) -> set[str]:
        return {
            c[len(prefix) :]
            for c in classifiers
            if c.startswith(prefix) and "::" not in c[len(prefix) :]
        }

    line = re.search(r"Supported versions: (.+?)\.\s", README, re.S)
    assert line, "the README's install section names no supported versions"
    text = line.group(1)
    python = set(re.findall(r"3\.\d+", text.split(";")[0]))
    django = set(re.findall(r"\d\.\d", text.split(";")[1]))
    wagtail = set(re.findall(r"\d+\.\d+", text.split(";")[2]))

    assert python == declared("Programming Language :: Python :: ") - {"3", "3 :: Only"}
    assert django == declared("Framework :: Django :: ")
    assert {w.split(".")[0] for w in wagtail} == declared("Framework :: Wagtail :: ")

    noxfile = (ROOT / "noxfile.py").read_text()
    matrix = re.search(r"WAGTAIL_VERSIONS = \[(.*?)\]", noxfile).group(1)
    tested = re.findall(r'"(\d+\.\d+)\.\d+"', matrix)
    assert set(tested) == wagtail
    pythons = set(re.findall(r'"(3\.\d+)"', re.search(r"PYTHONS = \[(.*?)\]", noxfile).group(1)))
    assert pythons | {"3.11"} == python

    deps = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0].lower(): d for d in project["dependencies"]}
    wagtail_range = SpecifierSet(deps["wagtail"][len("wagtail") :])
    django_range = SpecifierSet(deps["django"][len("django") :])
    assert all(f"{v}.0" in wagtail_range for v in wagtail)
    assert all(f"{v}.0" in django_range for v in django)
    assert "9.0" not in wagtail_range and "6.0" not in django_range  # nothing untested
    assert SpecifierSet(project["requires-python"]) == SpecifierSet(f">={min(python)}")
