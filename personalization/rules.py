"""Roles and permissions, declared once with django-rules and enforced at every edge."""

from __future__ import annotations

import rules

from .conf import get_setting


@rules.predicate
def is_privacy_officer(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=get_setting("PRIVACY_OFFICER_GROUP")).exists()


rules.add_perm("personalization.export_visitor", is_privacy_officer)
rules.add_perm("personalization.erase_visitor", is_privacy_officer)
rules.add_perm("personalization.set_traits", is_privacy_officer | rules.is_superuser)
