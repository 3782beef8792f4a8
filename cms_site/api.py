"""Wagtail's pages API (v2) for headless frontends. ``PersonalizedBlock`` values in it are
resolved per visitor (cookie, login or ``X-Visitor-Id``), so other segments' content never
appears in a response; the app's ``PagesAPIViewSet`` also lets experiments on a page's blocks
decide them here as on the rendered page."""

from wagtail.api.v2.router import WagtailAPIRouter
from wagtail.images.api.v2.views import ImagesAPIViewSet

from personalization.api.pages import PagesAPIViewSet

api_router = WagtailAPIRouter("wagtailapi")
api_router.register_endpoint("pages", PagesAPIViewSet)
api_router.register_endpoint("images", ImagesAPIViewSet)
