"""Erase or export one visitor from the command line (privacy requests handled by operators)."""

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from personalization.privacy.services import erase_visitor, export_visitor


class Command(BaseCommand):
    help = "Erase (or with --export, print as JSON) everything stored about a visitor id."

    def add_arguments(self, parser):
        parser.add_argument("visitor_id")
        parser.add_argument(
            "--export", action="store_true", help="Print the export, erase nothing."
        )

    def handle(self, *args, visitor_id, export, **options):
        try:
            parsed = uuid.UUID(visitor_id)
        except ValueError:
            raise CommandError(f"'{visitor_id}' is not a visitor id (a UUID).") from None
        if export:
            self.stdout.write(json.dumps(export_visitor(parsed, actor="command"), indent=2))
            return
        counts = erase_visitor(parsed, actor="command")
        self.stdout.write(f"Erased {sum(counts.values())} rows: {counts}")
