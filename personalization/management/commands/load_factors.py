"""Load item factors trained outside (Spark ALS itemFactors as JSON lines) as a model version."""

from django.core.management.base import BaseCommand, CommandError

from personalization.recommendations.factors import FactorsError, load_factors


class Command(BaseCommand):
    help = "Load Spark ALS item factors (JSON lines: {id, features}) and serve them."

    def add_arguments(self, parser):
        parser.add_argument("path", help="A JSON-lines file or a directory of part-* files.")
        parser.add_argument("--l2", type=float, default=0.1, help="Fold-in regularisation.")
        parser.add_argument("--no-activate", action="store_true")

    def handle(self, *args, path, l2, no_activate, **options):
        if not l2 > 0:
            raise CommandError("--l2 must be positive.")
        try:
            version = load_factors(path, l2=l2, activate=not no_activate)
        except FactorsError as exc:
            raise CommandError(f"{exc}. Nothing was loaded.") from exc
        active = " (active)" if version.is_active else ""
        self.stdout.write(f"v{version.pk} factors: {version.n_items} items{active}")
