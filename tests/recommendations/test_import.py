"""manage.py import_interactions: idempotent, all-or-nothing, errors name the line."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import CommandError, call_command

from personalization.recommendations.importers import visitor_for
from personalization.recommendations.models import Interaction

pytestmark = pytest.mark.django_db

MOVIELENS = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n"


def test_movielens_import_is_idempotent(tmp_path, capsys):
    path = tmp_path / "u.data"
    path.write_text(MOVIELENS)
    call_command("import_interactions", str(path), "--format", "movielens")
    assert "3 interactions imported" in capsys.readouterr().out
    call_command("import_interactions", str(path), "--format", "movielens")
    assert "0 interactions imported, 3 already there" in capsys.readouterr().out
    assert Interaction.objects.count() == 3
    rows = Interaction.objects.filter(visitor_id=visitor_for("movielens", "196"))
    assert sorted(rows.values_list("item_id", flat=True)) == ["242", "377"]
    assert {r.weight for r in rows} == {1.0}  # every rating is one interaction
    first = rows.get(item_id="242")
    assert first.timestamp.timestamp() == 881250949
    assert isinstance(first.visitor_id, uuid.UUID) and first.external_user == "196"


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (MOVIELENS + "1\t2\t3\n", 4, "expected 4 fields"),
        ("1\t2\t3\t4\n1\t2\tx\t5\n", 2, "rating is not a number"),
        ("1\t2\t3\t4\n\n1\t2\t3\tyesterday\n", 3, "timestamp"),
        ("1\t2\t3\t4\n1\t\x00\t3\t4\n", 2, "NUL"),
        ("1\t" + "9" * 65 + "\t3\t4\n", 1, "longer than 64"),
    ],
)
def test_a_malformed_line_is_named_and_nothing_is_imported(tmp_path, content, line, message):
    path = tmp_path / "bad.data"
    path.write_text(content)
    with pytest.raises(CommandError) as error:
        call_command("import_interactions", str(path), "--format", "movielens")
    assert f"line {line}:" in str(error.value) and message in str(error.value)
    assert "Nothing was imported" in str(error.value)
    assert Interaction.objects.count() == 0


def test_csv_with_header_iso_timestamps_and_weights(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text(
        "user,item,weight,timestamp\n"
        "alice,page-1,2.5,2026-05-01T10:00:00+02:00\n"
        'bob,"page,2",1,1777600000\n'
    )
    call_command("import_interactions", str(path), "--format", "csv", "--source", "crm")
    alice = Interaction.objects.get(visitor_id=visitor_for("crm", "alice"))
    assert (alice.item_id, alice.weight, alice.source) == ("page-1", 2.5, "crm")
    assert alice.timestamp.isoformat() == "2026-05-01T08:00:00+00:00"
    assert Interaction.objects.get(external_user="bob").item_id == "page,2"


def test_csv_bad_weight_and_bad_bytes(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text("a,b,-1,1\n")
    with pytest.raises(CommandError, match="line 1: weight must be > 0"):
        call_command("import_interactions", str(path), "--format", "csv")
    path.write_bytes(b"a,b,1,1\n\xff\xfe,b,1,1\n")
    with pytest.raises(CommandError, match="line 2: not UTF-8"):
        call_command("import_interactions", str(path), "--format", "csv")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_interactions", str(tmp_path / "missing"), "--format", "csv")
    assert Interaction.objects.count() == 0
