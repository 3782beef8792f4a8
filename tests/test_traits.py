"""Traits from the site: Python API and the server endpoint, validated."""

from __future__ import annotations

import uuid

import pytest

from personalization.profiles.snapshot import get_snapshot
from personalization.profiles.traits import NoConsent, TraitError, set_traits

from .conftest import Visitor

pytestmark = pytest.mark.django_db


def traits_url(visitor_id) -> str:
    return f"/api/personalization/v1/visitors/{visitor_id}/traits"


def test_python_api_merges_and_deletes_traits(visitor):
    set_traits(visitor.id, {"tier": "gold", "age_band": "25-34"})
    merged = set_traits(visitor.id, {"age_band": None, "interests": ["ai", "devops"]})
    assert merged == {"tier": "gold", "interests": ["ai", "devops"]}
    assert get_snapshot(visitor.id).traits == merged


def test_traits_need_personalization_consent_unless_the_caller_says_otherwise(db):
    vid = uuid.uuid4()
    with pytest.raises(NoConsent):
        set_traits(vid, {"tier": "gold"})
    assert set_traits(vid, {"tier": "gold"}, require_consent=False) == {"tier": "gold"}


@pytest.mark.parametrize(
    "traits, field",
    [
        ({"bad name": 1}, "traits.bad name"),
        ({"nested": {"a": 1}}, "traits.nested"),
        ({"long": "x" * 1001}, "traits.long"),
        ({"list": [{"a": 1}]}, "traits.list"),
    ],
)
def test_invalid_traits_name_the_field(visitor, traits, field):
    with pytest.raises(TraitError) as err:
        set_traits(visitor.id, traits)
    assert err.value.field == field


def test_endpoint_sets_traits_for_api_clients(visitor, api_key):
    server = Visitor().client
    response = server.post(
        traits_url(visitor.id),
        {"traits": {"tier": "platinum"}},
        format="json",
        HTTP_AUTHORIZATION=api_key,
    )
    assert response.status_code == 200
    assert response.json()["traits"] == {"tier": "platinum"}
    assert visitor.profile()["traits"] == {"tier": "platinum"}


def test_endpoint_errors(visitor, api_key):
    server = Visitor().client
    bad = server.post(
        traits_url(visitor.id), {"traits": {"a b": 1}}, format="json", HTTP_AUTHORIZATION=api_key
    )
    assert bad.status_code == 400 and "traits.a b" in bad.json()
    not_object = server.post(
        traits_url(visitor.id), {"traits": [1]}, format="json", HTTP_AUTHORIZATION=api_key
    )
    assert not_object.status_code == 400 and "traits" in not_object.json()
    no_consent = server.post(
        traits_url(uuid.uuid4()), {"traits": {"a": 1}}, format="json", HTTP_AUTHORIZATION=api_key
    )
    assert no_consent.status_code == 409
    bad_id = server.post(
        "/api/personalization/v1/visitors/not-a-uuid/traits",
        {"traits": {}},
        format="json",
        HTTP_AUTHORIZATION=api_key,
    )
    assert bad_id.status_code == 400 and "visitor_id" in bad_id.json()


def test_visitors_cannot_set_their_own_traits(visitor):
    response = visitor.client.post(
        traits_url(visitor.id),
        {"traits": {"tier": "platinum"}},
        format="json",
        HTTP_X_VISITOR_ID=visitor.token,
    )
    assert response.status_code in (401, 403)
    assert get_snapshot(visitor.id).traits == {}


def test_import_traits_command_stores_good_rows_and_reports_bad_ones(visitor, tmp_path, capsys):
    from django.core.management import call_command

    other = uuid.uuid4()
    csv_file = tmp_path / "crm.csv"
    csv_file.write_text(
        "visitor_id,tier,lifetime_value,newsletter,note\n"
        f"{visitor.id},gold,1200.5,true,\n"
        "not-a-uuid,silver,1,false,\n"
        f"{other},bronze,3,false,\n"
    )
    call_command("import_traits", str(csv_file))
    captured = capsys.readouterr()
    assert "1 visitors updated, 2 rows skipped" in captured.out
    assert "line 3: visitor_id: not a UUID" in captured.err
    assert "line 4: no personalization consent" in captured.err
    assert get_snapshot(visitor.id).traits == {
        "tier": "gold",
        "lifetime_value": 1200.5,
        "newsletter": True,
    }


def test_import_traits_rejects_unusable_files(tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_traits", str(tmp_path / "missing.csv"))
    no_id = tmp_path / "no_id.csv"
    no_id.write_text("email,tier\na@example.com,gold\n")
    with pytest.raises(CommandError, match="visitor_id"):
        call_command("import_traits", str(no_id))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"visitor_id,tier\n\xff\xfe\x00bad")
    with pytest.raises(CommandError, match="readable"):
        call_command("import_traits", str(binary))


def test_import_traits_reports_invalid_trait_columns(visitor, tmp_path, capsys):
    from django.core.management import call_command

    csv_file = tmp_path / "crm.csv"
    csv_file.write_text(f"visitor_id,bad name\n{visitor.id},x\n")
    call_command("import_traits", str(csv_file))
    assert "line 2: traits.bad name" in capsys.readouterr().err
    assert get_snapshot(visitor.id).traits == {}
