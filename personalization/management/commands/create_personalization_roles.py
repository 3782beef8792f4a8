"""Create the role groups (editors, analysts, privacy officers) with access to the admin.

What each role may do is declared in ``personalization/rules.py`` against the group names in
``PERSONALIZATION_EDITOR_GROUP``, ``_ANALYST_GROUP`` and ``_PRIVACY_OFFICER_GROUP``; this only
makes the groups (and lets their members into Wagtail's admin). Safe to run again.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

from ...conf import get_setting

ROLE_SETTINGS = ("EDITOR_GROUP", "ANALYST_GROUP", "PRIVACY_OFFICER_GROUP")


class Command(BaseCommand):
    help = "Create the personalization role groups, each allowed into the Wagtail admin."

    def handle(self, *args, **options):
        access_admin = Permission.objects.get(
            content_type__app_label="wagtailadmin", codename="access_admin"
        )
        for setting in ROLE_SETTINGS:
            group, created = Group.objects.get_or_create(name=get_setting(setting))
            group.permissions.add(access_admin)
            self.stdout.write(f"{'Created' if created else 'Kept'} group '{group.name}'")
        self.stdout.write("Add users to these groups in Settings > Groups or Users.")
