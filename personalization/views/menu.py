"""The admin's "Personalization" menu and the admin pages outside a viewset.

``wagtail_hooks`` registers what is defined here; host projects add their own items to the
submenu with the ``register_personalization_menu_item`` hook.
"""

from __future__ import annotations

from django.urls import path, reverse
from wagtail.admin.menu import Menu, MenuItem, SubmenuMenuItem
from wagtail.admin.viewsets.base import ViewSetGroup

from .experiments import ExperimentViewSet
from .privacy import EXPORT_PERM, PrivacyRequestView
from .recommendations import RecommendationsViewSet
from .scoring import (
    VIEW_SCORES,
    ActivateView,
    ModelVersionViewSet,
    PersonaSegmentView,
    PersonaViewSet,
    TrainView,
    VisitorScoresView,
)
from .segments import SegmentViewSet
from .variants import PersonalizedContentViewSet

PERSONALIZATION_MENU_HOOK = "register_personalization_menu_item"

ADMIN_URLS = [
    ("personalization/privacy/", PrivacyRequestView, "personalization_privacy"),
    ("personalization/models/train/", TrainView, "personalization_models_train"),
    ("personalization/models/<int:pk>/activate/", ActivateView, "personalization_models_activate"),
    (
        "personalization/personas/<int:pk>/segment/",
        PersonaSegmentView,
        "personalization_persona_segment",
    ),
    ("personalization/visitor-scores/", VisitorScoresView, "personalization_visitor_scores"),
]


def admin_urls() -> list:
    """The admin pages that no viewset serves (privacy requests, model actions, scores)."""
    return [path(route, view.as_view(), name=name) for route, view, name in ADMIN_URLS]


class PermissionMenuItem(MenuItem):
    """A menu item shown only to users with ``permission``."""

    def __init__(self, *args, permission: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.permission = permission

    def is_shown(self, request):
        return request.user.has_perm(self.permission)


class PersonalizationMenu(ViewSetGroup):
    """One "Personalization" menu: segments, plus whatever registers with the submenu hook
    (the privacy page here; host projects may add their own items)."""

    menu_label = "Personalization"
    menu_name = "personalization"
    menu_icon = "user"
    menu_order = 250
    items = (
        SegmentViewSet,
        PersonalizedContentViewSet,
        ExperimentViewSet,
        RecommendationsViewSet,
        PersonaViewSet,
        ModelVersionViewSet,
    )
    submenu_hook = PERSONALIZATION_MENU_HOOK

    def get_menu_item(self, order=None):
        # Built here rather than by Wagtail: 7.x's groups ignore ``submenu_hook``.
        return SubmenuMenuItem(
            label=self.menu_label,
            menu=Menu(register_hook_name=self.submenu_hook, items=self.get_submenu_items()),
            name=self.menu_name,
            icon_name=self.menu_icon,
            order=order if order is not None else self.menu_order,
        )


def privacy_menu_item() -> PermissionMenuItem:
    return PermissionMenuItem(
        "Privacy requests",
        reverse("personalization_privacy"),
        icon_name="lock",
        order=900,
        permission=EXPORT_PERM,
    )


def visitor_scores_menu_item() -> PermissionMenuItem:
    return PermissionMenuItem(
        "Visitor scores",
        reverse("personalization_visitor_scores"),
        icon_name="user",
        order=800,
        permission=VIEW_SCORES,
    )
