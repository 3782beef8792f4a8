"""Wagtail hook registrations only: every class and function they name lives in its module
(``views.menu``, ``views.variants``, ``views.block_experiments``, ``capture``, ``preview``);
permission policies are registered by ``AppConfig.ready`` (``views.policies``)."""

from wagtail import hooks

from .capture import track_page_view
from .preview import PreviewAsSegmentItem
from .views.block_experiments import page_header_buttons
from .views.menu import (
    PERSONALIZATION_MENU_HOOK,
    PersonalizationMenu,
    admin_urls,
    privacy_menu_item,
    visitor_scores_menu_item,
)
from .views.variants import variant_reach_assets


@hooks.register("before_serve_page")
def capture_page_view(page, request, serve_args, serve_kwargs):
    track_page_view(request, page)


@hooks.register("construct_wagtail_userbar")
def add_preview_as_segment(request, items, page):
    items.append(PreviewAsSegmentItem())


hooks.register("register_admin_urls", admin_urls)
hooks.register("register_admin_viewset", PersonalizationMenu)
hooks.register(PERSONALIZATION_MENU_HOOK, privacy_menu_item)
hooks.register(PERSONALIZATION_MENU_HOOK, visitor_scores_menu_item)
hooks.register("insert_editor_js", variant_reach_assets)
# "Experiment on a block" in a page's edit header.
hooks.register("register_page_header_buttons", page_header_buttons)
