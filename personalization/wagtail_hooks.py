"""Wagtail hook registrations only; the work lives in the modules they name."""

from django.templatetags.static import static
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from wagtail import hooks
from wagtail.admin.menu import Menu, MenuItem, SubmenuMenuItem
from wagtail.admin.viewsets.base import ViewSetGroup

from .capture import track_page_view
from .compat import register_permission_policy
from .experiments.models import Experiment
from .preview import PreviewAsSegmentItem
from .scoring.models import ModelVersion, Persona
from .segments.models import Segment
from .views.block_experiments import page_header_buttons
from .views.experiments import ExperimentViewSet, experiment_permission_policy
from .views.privacy import EXPORT_PERM, PrivacyRequestView
from .views.recommendations import RecommendationsViewSet
from .views.scoring import (
    VIEW_SCORES,
    ActivateView,
    ModelVersionViewSet,
    PersonaSegmentView,
    PersonaViewSet,
    TrainView,
    VisitorScoresView,
    model_permission_policy,
    persona_permission_policy,
)
from .views.segments import SegmentViewSet, segment_permission_policy
from .views.variants import PersonalizedContentViewSet

# Before any viewset asks for it, so Wagtail never makes its fallback (Django auth) policy.
register_permission_policy(Segment, segment_permission_policy)
register_permission_policy(Experiment, experiment_permission_policy)
register_permission_policy(ModelVersion, model_permission_policy)
register_permission_policy(Persona, persona_permission_policy)

PERSONALIZATION_MENU_HOOK = "register_personalization_menu_item"


@hooks.register("before_serve_page")
def capture_page_view(page, request, serve_args, serve_kwargs):
    track_page_view(request, page)


@hooks.register("construct_wagtail_userbar")
def add_preview_as_segment(request, items, page):
    items.append(PreviewAsSegmentItem())


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


@hooks.register("register_admin_urls")
def personalization_admin_urls():
    return [path(route, view.as_view(), name=name) for route, view, name in ADMIN_URLS]


class PermissionMenuItem(MenuItem):
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


@hooks.register("register_admin_viewset")
def personalization_menu():
    return PersonalizationMenu()


@hooks.register(PERSONALIZATION_MENU_HOOK)
def privacy_menu_item():
    return PermissionMenuItem(
        "Privacy requests",
        reverse("personalization_privacy"),
        icon_name="lock",
        order=900,
        permission=EXPORT_PERM,
    )


@hooks.register(PERSONALIZATION_MENU_HOOK)
def visitor_scores_menu_item():
    return PermissionMenuItem(
        "Visitor scores",
        reverse("personalization_visitor_scores"),
        icon_name="user",
        order=800,
        permission=VIEW_SCORES,
    )


@hooks.register("insert_editor_js")
def variant_reach_assets():
    """Reach estimates under each variant in page and snippet editors (``variant_reach.js``).

    The endpoint's URL travels on the script tag; without the API mounted there is nothing to ask.
    """
    try:
        url = reverse("personalization_api:variant-reach")
    except NoReverseMatch:
        return ""
    return format_html(
        '<link rel="stylesheet" href="{}"><script src="{}" data-reach-url="{}"></script>',
        static("personalization/variant_reach.css"),
        static("personalization/variant_reach.js"),
        url,
    )


# "Experiment on a block" in a page's edit header (``views.block_experiments``).
hooks.register("register_page_header_buttons", page_header_buttons)
