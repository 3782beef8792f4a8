"""Roles and permissions, declared once with django-rules and enforced at every edge.

``PERMISSIONS`` is the one table of which roles (group-name settings) hold which permission:
the django-rules predicates are built from it, and the admin's permission policies read it to
list the users holding an action (``users_holding``). A superuser holds every permission.

A user's group names are read once per user object (``group_names``), i.e. once per request:
the admin listing asks ``has_perm`` for every row and button, and each ask used to be a query.
"""

from __future__ import annotations

import rules

from .conf import get_setting

EDITOR = "EDITOR_GROUP"
ANALYST = "ANALYST_GROUP"
PRIVACY_OFFICER = "PRIVACY_OFFICER_GROUP"

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "personalization.view_segment": (EDITOR, ANALYST),
    "personalization.add_segment": (EDITOR,),
    "personalization.change_segment": (EDITOR,),
    "personalization.delete_segment": (EDITOR,),
    "personalization.export_segment_members": (ANALYST, EDITOR),
    "personalization.export_visitor": (PRIVACY_OFFICER,),
    "personalization.erase_visitor": (PRIVACY_OFFICER,),
    "personalization.set_traits": (PRIVACY_OFFICER,),
    # Scoring: analysts train, activate and roll back models and read a visitor's scores;
    # editors may read and rename personas too (they target them).
    "personalization.view_modelversion": (ANALYST,),
    "personalization.train_models": (ANALYST,),
    "personalization.view_persona": (ANALYST, EDITOR),
    "personalization.change_persona": (ANALYST, EDITOR),
    "personalization.view_visitor_scores": (ANALYST,),
    **{
        f"personalization.{action}_personalizedcontent": (EDITOR,)
        for action in ("view", "add", "change", "delete")
    },
    "personalization.view_recommenderversion": (EDITOR, ANALYST),
    "personalization.change_recommenderversion": (EDITOR,),
    "personalization.view_experiment": (EDITOR, ANALYST),
    **{f"personalization.{action}_experiment": (EDITOR,) for action in ("add", "change", "delete")},
}


def group_names(user) -> frozenset[str]:
    """The user's group names, read once and kept on the user object (one per request)."""
    cached = getattr(user, "_pz_group_names", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._pz_group_names = cached
    return cached


def has_role(user, *role_settings: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    wanted = {get_setting(setting) for setting in role_settings}
    return not wanted.isdisjoint(group_names(user))


def in_group(*role_settings: str):
    @rules.predicate
    def predicate(user) -> bool:
        return has_role(user, *role_settings)

    return predicate


is_editor = in_group(EDITOR)
is_analyst = in_group(ANALYST)
is_privacy_officer = in_group(PRIVACY_OFFICER)


def users_holding(perms):
    """Active users who hold any of ``perms``: superusers and the members of their roles."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    User = get_user_model()
    roles = {role for perm in perms for role in PERMISSIONS.get(perm, ())}
    if not roles:
        return User.objects.none()
    groups = {get_setting(role) for role in roles}
    return User.objects.filter(
        Q(is_superuser=True) | Q(groups__name__in=groups), is_active=True
    ).distinct()


for _perm, _roles in PERMISSIONS.items():
    rules.add_perm(_perm, in_group(*_roles))
