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


def in_group(setting: str):
    @rules.predicate
    def predicate(user) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        return user.is_superuser or user.groups.filter(name=get_setting(setting)).exists()

    return predicate


is_editor = in_group("EDITOR_GROUP")
is_analyst = in_group("ANALYST_GROUP")

rules.add_perm("personalization.view_segment", is_editor | is_analyst)
rules.add_perm("personalization.add_segment", is_editor)
rules.add_perm("personalization.change_segment", is_editor)
rules.add_perm("personalization.delete_segment", is_editor)
rules.add_perm("personalization.export_segment_members", is_analyst | is_editor)
rules.add_perm("personalization.export_visitor", is_privacy_officer)
rules.add_perm("personalization.erase_visitor", is_privacy_officer)
rules.add_perm("personalization.set_traits", is_privacy_officer | rules.is_superuser)

# Scoring: analysts train, activate and roll back models and read a visitor's scores; editors
# may read and rename personas too (they target them).
rules.add_perm("personalization.view_modelversion", is_analyst)
rules.add_perm("personalization.train_models", is_analyst)
rules.add_perm("personalization.view_persona", is_analyst | is_editor)
rules.add_perm("personalization.change_persona", is_analyst | is_editor)
rules.add_perm("personalization.view_visitor_scores", is_analyst)

for _action in ("view", "add", "change", "delete"):
    rules.add_perm(f"personalization.{_action}_personalizedcontent", is_editor)

rules.add_perm("personalization.view_recommenderversion", is_editor | is_analyst)
rules.add_perm("personalization.change_recommenderversion", is_editor)
rules.add_perm("personalization.view_experiment", is_editor | is_analyst)
for _action in ("add", "change", "delete"):
    rules.add_perm(f"personalization.{_action}_experiment", is_editor)
