"""Import traits from a CRM export (CSV): one row per visitor, one column per trait."""

from __future__ import annotations

import csv
import uuid

from django.core.management.base import BaseCommand, CommandError

from personalization.profiles.traits import NoConsent, TraitError, set_traits

MAX_ROWS = 1_000_000


def _value(raw: str):
    """Empty cells remove a trait; numbers and booleans are typed, everything else is text."""
    text = raw.strip()
    if text == "":
        return None
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if number == number and abs(number) != float("inf") else text


class Command(BaseCommand):
    help = (
        "Set traits from a CSV file with a 'visitor_id' column and one column per trait. "
        "Bad rows are reported by line and skipped; good rows are stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--no-require-consent",
            action="store_true",
            help="Store traits for visitors without personalization consent (another legal "
            "basis, e.g. a contract, must apply).",
        )

    def handle(self, *args, path, no_require_consent, **options):
        try:
            handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        stored = skipped = 0
        with handle:
            try:
                reader = csv.DictReader(handle)
                if not reader.fieldnames or "visitor_id" not in reader.fieldnames:
                    raise CommandError(
                        "The first line must name the columns, one of them 'visitor_id'."
                    )
                for line, row in enumerate(reader, start=2):
                    if line > MAX_ROWS + 1:
                        raise CommandError(f"More than {MAX_ROWS} rows; split the file.")
                    error = self._import_row(row, require_consent=not no_require_consent)
                    if error:
                        skipped += 1
                        self.stderr.write(f"line {line}: {error}")
                    else:
                        stored += 1
            except (csv.Error, UnicodeDecodeError) as exc:
                raise CommandError(f"Not a readable CSV file: {exc}") from None
        self.stdout.write(f"{stored} visitors updated, {skipped} rows skipped")

    def _import_row(self, row: dict, *, require_consent: bool) -> str | None:
        try:
            visitor_id = uuid.UUID((row.get("visitor_id") or "").strip())
        except ValueError:
            return "visitor_id: not a UUID"
        traits = {k: _value(v or "") for k, v in row.items() if k and k != "visitor_id"}
        try:
            set_traits(visitor_id, traits, require_consent=require_consent)
        except TraitError as exc:
            return f"{exc.field}: {exc.message}"
        except NoConsent:
            return "no personalization consent (use --no-require-consent if another basis applies)"
        return None
