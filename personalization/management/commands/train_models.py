"""Train personas and predictive scores now (what the beat task and the admin's button do)."""

from django.core.management.base import BaseCommand, CommandError

from personalization.conf import get_setting
from personalization.scoring.models import ModelVersion
from personalization.scoring.services import activate, apply_models, train_models


class Command(BaseCommand):
    help = (
        "Train personas and every score in PERSONALIZATION_SCORES (or the ones named), activate "
        "them per PERSONALIZATION_SCORING_AUTO_ACTIVATE, and rescore every profile."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--model", action="append", default=[], help="'personas' or a score name (repeatable)."
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--activate", action="store_true", help="Activate what trains.")
        group.add_argument("--no-activate", action="store_true", help="Only train.")
        parser.add_argument(
            "--rollback",
            metavar="NAME",
            help="Activate the previous ready version of NAME instead of training.",
        )

    def handle(self, *args, model, activate, no_activate, rollback, **options):
        if rollback:
            return self.rollback(rollback)
        known = {"personas", *get_setting("SCORES")}
        unknown = sorted(set(model) - known)
        if unknown:
            raise CommandError(f"Unknown model(s): {', '.join(unknown)}; known: {sorted(known)}")
        choice = True if activate else False if no_activate else None
        versions = train_models(model or None, activate_new=choice, actor="command")
        failed = False
        for version in versions:
            if version.status == ModelVersion.Status.READY:
                m = version.metrics
                if version.kind == ModelVersion.Kind.PERSONAS:
                    summary = f"k={m['k']}, {m['n_profiles']} profiles"
                else:
                    summary = (
                        f"ROC AUC {m['roc_auc']} (baseline {m['baseline']['roc_auc']}), "
                        f"PR AUC {m['pr_auc']}, Brier {m['brier']}"
                    )
                state = "active" if version.is_active else "not active"
                self.stdout.write(f"{version}: {summary} [{state}]")
            else:
                failed = True
                self.stderr.write(f"{version}: failed: {version.error}")
        if failed and not any(v.status == ModelVersion.Status.READY for v in versions):
            raise CommandError("No model trained.")

    def rollback(self, name: str) -> None:
        current = ModelVersion.objects.filter(name=name, is_active=True).first()
        previous = ModelVersion.objects.filter(name=name, status=ModelVersion.Status.READY)
        if current is not None:
            previous = previous.filter(version__lt=current.version)
        target = previous.order_by("-version").first()
        if target is None:
            raise CommandError(f"No earlier ready version of '{name}'.")
        activate(target)
        result = apply_models()
        self.stdout.write(f"{target} is active; {result['changed']} profiles rescored.")
