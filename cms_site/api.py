"""Wagtail's pages API (v2) for headless frontends. ``PersonalizedBlock`` values in it are
resolved per visitor (cookie, login or ``X-Visitor-Id``), so other segments' content never
appears in a response."""

from wagtail.api.v2.router import WagtailAPIRouter
from wagtail.api.v2.views import PagesAPIViewSet
from wagtail.images.api.v2.views import ImagesAPIViewSet

api_router = WagtailAPIRouter("wagtailapi")
api_router.register_endpoint("pages", PagesAPIViewSet)
api_router.register_endpoint("images", ImagesAPIViewSet)
