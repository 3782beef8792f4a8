"""Export and erasure cover every visitor-keyed table; erasure leaves no row behind."""

from __future__ import annotations

import json
import uuid

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import models
from django.db.models.functions import Cast

from personalization.privacy.models import PrivacyAuditEntry
from personalization.privacy.services import export_visitor, visitor_models
from personalization.profiles.traits import set_traits

from .conftest import IPHONE, Visitor

pytestmark = pytest.mark.django_db


def rich_visitor() -> Visitor:
    v = Visitor(user_agent=IPHONE)
    v.consent(analytics=True, personalization=True, marketing=True)
    v.send_signed(
        {"type": "page_view", "properties": {"tags": ["ai"], "page_id": 1}},
        {"type": "purchase", "properties": {"value": 10}},
    )
    set_traits(v.id, {"tier": "gold"})
    return v


def rows_mentioning(visitor_ids: set[uuid.UUID]) -> list[str]:
    """Every installed model's rows whose UUID, text or JSON fields hold one of the ids."""
    found = []
    needles = {str(v) for v in visitor_ids} | {v.hex for v in visitor_ids}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            queryset = model.objects.all()
            if isinstance(field, models.UUIDField):
                queryset = queryset.filter(**{f"{field.name}__in": visitor_ids})
            elif isinstance(field, models.JSONField | models.TextField | models.CharField):
                queryset = queryset.annotate(_text=Cast(field.name, models.TextField()))
                q = models.Q()
                for needle in needles:
                    q |= models.Q(_text__contains=needle)
                queryset = queryset.filter(q)
            else:
                continue
            if queryset.exists():
                found.append(f"{model._meta.label}.{field.name}")
    return found


def test_erasure_leaves_no_row_for_the_visitor_anywhere(db):
    other = rich_visitor()
    v = rich_visitor()
    phone = Visitor()
    phone.consent(analytics=True, personalization=True)
    phone.send({"type": "click"})
    from personalization.profiles.identity import merge_visitors

    merge_visitors(phone.id, v.id)  # an alias too
    assert rows_mentioning({v.id, phone.id})
    response = v.client.delete(f"/api/personalization/v1/visitors/{v.id}")
    assert response.status_code == 200
    assert sum(response.json()["erased"].values()) > 5
    assert rows_mentioning({v.id, phone.id}) == []
    assert rows_mentioning({other.id})  # nobody else's data went with it
    entry = PrivacyAuditEntry.objects.get(action="erase")
    assert str(v.id) not in json.dumps([entry.subject_hash, entry.details, entry.actor])


def test_every_visitor_keyed_model_is_covered():
    """A model with a visitor id field must declare how erasure reaches it."""
    covered = set(visitor_models())
    for model in apps.get_models():
        names = {f.name for f in model._meta.concrete_fields}
        if "visitor_id" in names or "alias_id" in names:
            assert model in covered, model._meta.label


def test_export_contains_every_table_and_is_json(db):
    v = rich_visitor()
    response = v.client.get(f"/api/personalization/v1/visitors/{v.id}/export")
    assert response.status_code == 200
    tables = response.json()["tables"]
    assert {m._meta.label for m in visitor_models()} == set(tables)
    assert len(tables["personalization.Event"]) == 2
    assert tables["personalization.VisitorProfile"][0]["traits"] == {"tier": "gold"}
    assert len(tables["personalization.ConsentRecord"]) == 3
    assert PrivacyAuditEntry.objects.filter(action="export").count() == 1
    assert export_visitor(v.id)["visitor_ids"] == [str(v.id)]


def test_strangers_cannot_export_or_erase(db):
    v = rich_visitor()
    stranger = Visitor()
    stranger.consent(analytics=True)
    # Not the visitor and no credentials: 401 (with WWW-Authenticate naming the API key scheme).
    assert stranger.client.get(f"/api/personalization/v1/visitors/{v.id}/export").status_code == 401
    assert stranger.client.delete(f"/api/personalization/v1/visitors/{v.id}").status_code == 401
    staff = get_user_model().objects.create_user("ed", password="pw-ed-12345", is_staff=True)
    stranger.client.force_login(staff)
    assert stranger.client.get(f"/api/personalization/v1/visitors/{v.id}/export").status_code == 403


def test_privacy_officer_and_api_clients_can(db, api_key):
    v = rich_visitor()
    officer = get_user_model().objects.create_user("po", password="pw-po-12345")
    officer.groups.add(Group.objects.create(name="Personalization privacy officers"))
    client = Visitor().client
    client.force_login(officer)
    assert client.get(f"/api/personalization/v1/visitors/{v.id}/export").status_code == 200
    server = Visitor().client
    response = server.delete(f"/api/personalization/v1/visitors/{v.id}", HTTP_AUTHORIZATION=api_key)
    assert response.status_code == 200
    assert PrivacyAuditEntry.objects.get(action="erase").actor == "api-key:crm"


def test_erase_command(db, capsys):
    v = rich_visitor()
    call_command("erase_visitor", str(v.id))
    assert "Erased" in capsys.readouterr().out
    assert rows_mentioning({v.id}) == []
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("erase_visitor", "nope")


def test_retention_purge(db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from personalization.events.models import Event
    from personalization.profiles.models import ProfileCounter

    v = rich_visitor()
    old = timezone.now() - timedelta(days=3)
    Event.objects.filter(visitor_id=v.id).update(timestamp=old)
    ProfileCounter.objects.filter(granularity="h").update(bucket=old)
    settings.PERSONALIZATION_EVENT_RETENTION_DAYS = 2
    settings.PERSONALIZATION_HOURLY_COUNTER_HOURS = 24
    call_command("purge_expired_data")
    assert not Event.objects.exists()
    assert not ProfileCounter.objects.filter(granularity="h").exists()
    assert ProfileCounter.objects.filter(granularity="t").exists()
    assert PrivacyAuditEntry.objects.filter(action="purge").exists()


PRIVACY_ADMIN = "/admin/personalization/privacy/"


@pytest.fixture
def officer_client(db):
    from django.test import Client

    officer = get_user_model().objects.create_user("po", password="pw-po-12345")
    officer.groups.add(Group.objects.create(name="Personalization privacy officers"))
    from django.contrib.auth.models import Permission

    officer.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client = Client()
    client.force_login(officer)
    return client


def test_admin_privacy_page_exports_and_erases(officer_client):
    v = rich_visitor()
    page = officer_client.get(PRIVACY_ADMIN)
    assert page.status_code == 200 and b"Audit log" in page.content
    export = officer_client.post(PRIVACY_ADMIN, {"visitor_id": str(v.id), "action": "export"})
    assert export.status_code == 200
    assert export["Content-Disposition"].startswith("attachment")
    assert len(json.loads(export.content)["tables"]["personalization.Event"]) == 2
    unconfirmed = officer_client.post(PRIVACY_ADMIN, {"visitor_id": str(v.id), "action": "erase"})
    assert unconfirmed.status_code == 200 and b"confirm the erasure" in unconfirmed.content
    assert rows_mentioning({v.id})
    erase = officer_client.post(
        PRIVACY_ADMIN, {"visitor_id": str(v.id), "action": "erase", "confirm": "on"}
    )
    assert erase.status_code == 302
    assert rows_mentioning({v.id}) == []
    actions = list(PrivacyAuditEntry.objects.values_list("action", "actor"))
    assert ("erase", "user:po") in actions and ("export", "user:po") in actions


def test_admin_privacy_page_rejects_bad_ids_and_other_staff(officer_client):
    bad = officer_client.post(PRIVACY_ADMIN, {"visitor_id": "nope", "action": "export"})
    assert bad.status_code == 200 and b"valid UUID" in bad.content
    from django.contrib.auth.models import Permission
    from django.test import Client

    editor = get_user_model().objects.create_user("ed", password="pw-ed-12345")
    editor.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client = Client()
    client.force_login(editor)
    assert client.get(PRIVACY_ADMIN).status_code in (302, 403)
    assert b"Privacy requests" not in client.get("/admin/").content


def test_audit_log_finds_a_visitors_requests_under_the_old_and_the_new_hash(officer_client):
    import hashlib
    import hmac

    from django.conf import settings
    from django.utils.crypto import salted_hmac

    v = rich_visitor()
    officer_client.post(PRIVACY_ADMIN, {"visitor_id": str(v.id), "action": "export"})
    written = PrivacyAuditEntry.objects.get(actor="user:po")
    # Django's salted_hmac with its own salt, no longer the raw HMAC keyed with SECRET_KEY.
    message = f"visitor:{v.id}"
    legacy = hmac.new(settings.SECRET_KEY.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert (
        written.subject_hash
        == salted_hmac("personalization.privacy.subject", message, algorithm="sha256").hexdigest()
    )
    assert written.subject_hash != legacy
    # An entry written before the change, and one about someone else.
    PrivacyAuditEntry.objects.create(action="erase", subject_hash=legacy, actor="user:before")
    PrivacyAuditEntry.objects.create(action="erase", subject_hash="0" * 64, actor="user:other")
    page = officer_client.get(PRIVACY_ADMIN, {"visitor": str(v.id)})
    assert page.status_code == 200
    assert {e.actor for e in page.context["audit_entries"]} == {"user:po", "user:before"}
    everything = officer_client.get(PRIVACY_ADMIN, {"visitor": "not-an-id"})
    assert everything.status_code == 200
    assert len(everything.context["audit_entries"]) == 3
