"""Operating the models over HTTP and commands: roles, train, activate and roll back, personas
(rename, one-click segment), a visitor's explanations, export and erasure, the demo panel."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings

from personalization.privacy.services import erase_visitor, export_visitor
from personalization.profiles.models import VisitorProfile
from personalization.scoring.models import ModelVersion, Persona
from personalization.scoring.services import active_models
from personalization.segments.models import Segment, SegmentMembership

from ..segments.test_admin import ANALYSTS, EDITORS, staff_client
from .helpers import GROUPS, build_groups

pytestmark = pytest.mark.django_db

MODELS = "/admin/personalization/models/"
PERSONAS = "/admin/personalization/personas/"
SCORES = "/admin/personalization/visitor-scores/"
ONLY_PERSONAS = override_settings(PERSONALIZATION_SCORES={})


def denied(response) -> bool:
    """Wagtail's admin turns a refusal into a redirect to the dashboard with a message."""
    return response.status_code == 403 or (
        response.status_code == 302 and response["Location"] == "/admin/"
    )


def train() -> None:
    call_command("train_models", stdout=io.StringIO())


@pytest.fixture
def analyst():
    return staff_client("analyst", ANALYSTS)


@pytest.fixture
def editor():
    return staff_client("editor", EDITORS)


@ONLY_PERSONAS
def test_analysts_train_list_and_roll_back_and_editors_cannot(
    analyst, editor, django_capture_on_commit_callbacks
):
    members = build_groups(GROUPS, per_group=8)
    assert denied(editor.get(MODELS))
    assert denied(editor.post(MODELS + "train/"))
    assert "Train now" in analyst.get(MODELS + "train/").content.decode()  # a GET only asks
    assert not ModelVersion.objects.exists()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert analyst.post(MODELS + "train/").status_code == 302
    v1, v2 = ModelVersion.objects.filter(name="personas").order_by("version")
    assert not v1.is_active and ModelVersion.objects.get(pk=v2.pk).is_active
    listing = analyst.get(MODELS).content.decode()
    assert "personas v1" in listing and "silhouette" in listing
    page = analyst.get(f"{MODELS}inspect/{v1.pk}/").content.decode()
    assert "Davies-Bouldin" in page and "Activate this version" in page
    assert denied(editor.post(f"{MODELS}{v1.pk}/activate/"))
    # Roll back: v1 serves again, and profiles are rescored with it.
    VisitorProfile.objects.update(persona="")
    with django_capture_on_commit_callbacks(execute=True):
        assert analyst.post(f"{MODELS}{v1.pk}/activate/").status_code == 302
    assert ModelVersion.objects.get(is_active=True).pk == v1.pk
    assert active_models().personas.version.pk == v1.pk
    assert not VisitorProfile.objects.filter(
        visitor_id__in=members["security"], persona=""
    ).exists()


def test_anonymous_and_plain_staff_are_kept_out(client):
    assert client.get(MODELS).status_code == 302  # to the login page
    nobody = staff_client("nobody")
    for url in (MODELS, PERSONAS, SCORES, MODELS + "train/"):
        assert denied(nobody.get(url)) or nobody.get(url)["Location"].startswith("/admin/login"), (
            url
        )


@ONLY_PERSONAS
def test_personas_are_renamed_and_become_segments_in_one_click(analyst, editor):
    members = build_groups(GROUPS, per_group=8)
    train()
    key = VisitorProfile.objects.get(visitor_id=members["pricing"][0]).persona
    persona = Persona.objects.get(key=key)
    response = editor.post(f"{PERSONAS}edit/{persona.pk}/", {"name": "Price-sensitive founders"})
    assert response.status_code == 302
    persona.refresh_from_db()
    assert persona.name == "Price-sensitive founders" and persona.name_edited
    assert "Price-sensitive founders" in editor.get(PERSONAS).content.decode()

    url = f"/admin/personalization/personas/{persona.pk}/segment/"
    assert denied(analyst.post(url))  # analysts do not add segments
    assert not Segment.objects.exists()
    assert "Create the segment" in editor.get(url).content.decode()
    assert editor.post(url).status_code == 302
    segment = Segment.objects.get(slug=key)
    assert segment.rules == {"all": [{"type": "persona", "params": {"in": [key]}}]}
    held = set(
        SegmentMembership.objects.filter(segment=segment).values_list("visitor_id", flat=True)
    )
    assert held == set(members["pricing"])
    editor.post(url)  # a second click opens the same segment
    assert Segment.objects.count() == 1


def test_the_visitor_view_explains_each_score_with_its_linear_terms(analyst, editor, settings):
    from .test_scores import shoppers

    groups = shoppers()
    from unittest import mock

    from .helpers import NOW

    with mock.patch("django.utils.timezone.now", return_value=NOW):
        call_command("train_models", "--model", "conversion", stdout=io.StringIO())
    vid = groups["pricing"][0]
    assert denied(editor.get(SCORES, {"visitor_id": str(vid)}))
    assert analyst.get(SCORES, {"visitor_id": "not-a-uuid"}).status_code == 200  # a form error
    page = analyst.get(SCORES, {"visitor_id": str(vid)}).content.decode()
    score = VisitorProfile.objects.get(visitor_id=vid).predicted_scores["conversion"]
    assert f'<span class="pz-score">{score}</span>' in page

    # The largest term, computed here from the stored model's parameters.
    model = active_models().scores["conversion"]
    from personalization.profiles.snapshot import build_snapshot
    from personalization.scoring.features import scoring_moment, snapshot_features

    with mock.patch("django.utils.timezone.now", return_value=NOW):
        row = snapshot_features(model.spec, build_snapshot(vid), scoring_moment(NOW))
    pipe = model.artefact["model"]
    imputer, scaler, lr = (
        pipe.named_steps["impute"],
        pipe.named_steps["scale"],
        pipe.named_steps["model"],
    )
    filled = np.where(np.isnan(row[0]), imputer.statistics_, row[0])
    terms = lr.coef_[0] * (filled - scaler.mean_) / scaler.scale_
    top = int(np.argmax(np.abs(terms)))
    assert model.names[top] in page
    assert f"{terms[top]:.3f}".rstrip("0").rstrip(".") in page


@ONLY_PERSONAS
def test_export_includes_persona_and_scores_and_erasure_removes_them():
    members = build_groups(GROUPS, per_group=8)
    train()
    vid = members["security"][0]
    VisitorProfile.objects.filter(visitor_id=vid).update(predicted_scores={"conversion": 77})
    profile = export_visitor(vid)["tables"]["personalization.VisitorProfile"][0]
    assert profile["persona"].startswith("persona-")
    assert profile["predicted_scores"] == {"conversion": 77}
    erase_visitor(vid)
    assert not VisitorProfile.objects.filter(visitor_id=vid).exists()
    # Nothing the models keep names the visitor (centroids are means over many).
    for version in ModelVersion.objects.all():
        assert str(vid) not in str(version.metrics) and vid.bytes not in bytes(version.artefact)


@ONLY_PERSONAS
def test_the_command_reports_and_refuses_unknown_models():
    build_groups(GROUPS, per_group=8)
    out = io.StringIO()
    call_command("train_models", "--no-activate", stdout=out)
    assert "personas v1: k=3" in out.getvalue() and "[not active]" in out.getvalue()
    with pytest.raises(Exception, match="Unknown model"):
        call_command("train_models", "--model", "nope", stdout=io.StringIO())
    # With nothing active, "rollback" activates the newest ready version; then there is none
    # earlier to go back to.
    call_command("train_models", "--rollback", "personas", stdout=io.StringIO())
    assert ModelVersion.objects.get(is_active=True).version == 1
    with pytest.raises(Exception, match="No earlier ready version"):
        call_command("train_models", "--rollback", "personas", stdout=io.StringIO())
