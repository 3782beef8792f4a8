"""Apply the retention settings now (the same work the hourly beat task does)."""

from django.core.management.base import BaseCommand

from personalization.privacy.services import purge_expired_data


class Command(BaseCommand):
    help = "Delete events and counters older than the configured retention windows."

    def handle(self, *args, **options):
        result = purge_expired_data()
        for name, count in result.items():
            self.stdout.write(f"{name}: {count} deleted")
