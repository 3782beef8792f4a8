"""Recompute segment membership now (what the beat task and the admin's button do)."""

from django.core.management.base import BaseCommand, CommandError

from personalization.segments.models import Segment
from personalization.segments.services import recompute_segment


class Command(BaseCommand):
    help = "Recompute the membership of all enabled segments, or of the ones named."

    def add_arguments(self, parser):
        parser.add_argument("--segment", action="append", default=[], help="Slug (repeatable).")
        parser.add_argument("--progress", action="store_true", help="Print progress.")

    def handle(self, *args, segment, progress, **options):
        queryset = (
            Segment.objects.all()
            if segment
            else Segment.objects.filter(status=Segment.Status.ENABLED)
        )
        if segment:
            queryset = queryset.filter(slug__in=segment)
            missing = sorted(set(segment) - set(queryset.values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"Unknown segment(s): {', '.join(missing)}")
        for item in queryset.order_by("slug"):

            def report(done, total, slug=item.slug):
                if progress:
                    self.stdout.write(f"  {slug}: step {done}/{total}")

            result = recompute_segment(item, progress=report)
            self.stdout.write(
                f"{item.slug}: {result['size']} members (+{result['entered']} / -{result['left']})"
            )
