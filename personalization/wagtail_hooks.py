"""Wagtail hook registrations only; the work lives in the modules they name."""

from wagtail import hooks

from .capture import track_page_view


@hooks.register("before_serve_page")
def capture_page_view(page, request, serve_args, serve_kwargs):
    track_page_view(request, page)
