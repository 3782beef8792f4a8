"""Import interactions from a MovieLens or CSV file (all or nothing; re-importing is a no-op)."""

from django.core.management.base import BaseCommand, CommandError

from personalization.recommendations.importers import FORMATS, ImportFailed, import_interactions


class Command(BaseCommand):
    help = (
        "Import interactions: --format movielens (user TAB item TAB rating TAB timestamp) or "
        "csv (user,item,weight,timestamp). A malformed line stops the import, naming the line."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--format", choices=FORMATS, required=True)
        parser.add_argument("--source", help="Name of the source (default: the format).")

    def handle(self, *args, path, format, source, **options):
        try:
            result = import_interactions(path, format, source=source)
        except ImportFailed as exc:
            raise CommandError(f"{path}: {exc}. Nothing was imported.") from exc
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from exc
        self.stdout.write(
            f"{result['lines']} lines: {result['created']} interactions imported, "
            f"{result['unchanged']} already there (source '{result['source']}')"
        )
