"""Visitor middleware: identity is resolved lazily, and the only write is the id cookie."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .visitors import apply_visitor_cookie


class VisitorMiddleware:
    """Place after ``AuthenticationMiddleware``.

    It never touches ``request.session``, so anonymous visitors get no session cookie and page
    caches keep working.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The site's (lazy) user, kept before DRF replaces request.user with the API caller:
        # who the visitor is comes from the site's login, what they may do from DRF.
        request._pz_site_user = getattr(request, "user", None)
        response = self.get_response(request)
        apply_visitor_cookie(request, response)
        return response
