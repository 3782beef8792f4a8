"""Train a recommender now (what the beat task does), print its offline metrics, activate it."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from personalization.recommendations.algorithms import RECOMMENDERS
from personalization.recommendations.training import TrainingError, rollback, train


class Command(BaseCommand):
    help = "Train a recommender on the current interactions, evaluate it offline and activate it."

    def add_arguments(self, parser):
        parser.add_argument("--algorithm", choices=sorted(RECOMMENDERS), help="Default: setting.")
        parser.add_argument("--params", help="JSON, e.g. '{\"l2\": 300}'.")
        parser.add_argument(
            "--window-days", type=float, default=-1, help="0: all interactions (default: setting)."
        )
        parser.add_argument("--now", help="ISO 8601 end of the data window (default: now).")
        parser.add_argument("--no-activate", action="store_true")
        parser.add_argument("--no-evaluate", action="store_true")
        parser.add_argument("--rollback", action="store_true", help="Re-activate the previous one.")

    def handle(self, *args, algorithm, params, window_days, no_activate, no_evaluate, **options):
        try:
            if options["rollback"]:
                version = rollback()
                self.stdout.write(f"Active: v{version.pk} {version.algorithm}")
                return
            try:
                parsed = json.loads(params) if params else None
            except json.JSONDecodeError as exc:
                raise CommandError(f"--params is not JSON: {exc}") from exc
            if parsed is not None and not isinstance(parsed, dict):
                raise CommandError("--params must be a JSON object.")
            now = None
            if options["now"]:
                now = parse_datetime(options["now"])
                if now is None or now.tzinfo is None:
                    raise CommandError("--now must be an ISO 8601 date-time with a time zone.")
            version = train(
                algorithm,
                parsed,
                now=now,
                window_days=None if window_days == 0 else window_days,
                activate=not no_activate,
                evaluate_model=not no_evaluate,
                progress=lambda pct, note: self.stdout.write(f"  {pct:3d}% {note}"),
            )
        except (TrainingError, TypeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"v{version.pk} {version.algorithm} {version.status}"
            f"{' (active)' if version.is_active else ''}: {version.n_visitors} visitors, "
            f"{version.n_items} items, {version.n_interactions} interactions"
        )
        for split in ("time", "random"):
            found = version.metrics.get(split)
            if found:
                for who, values in found.items():
                    shown = ", ".join(
                        f"{k}={v}" for k, v in values.items() if "@" in k or k == "coverage"
                    )
                    self.stdout.write(f"  {split:6} {who:10} {shown}")
