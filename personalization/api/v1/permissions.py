"""Who may act on a visitor's data: the visitor, a server client, or a user holding the perm;
and where a browser's state-changing request may come from."""

from __future__ import annotations

from urllib.parse import urlsplit

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from ...conf import get_setting
from ...profiles.snapshot import get_snapshot
from .authentication import is_api_client
from .identity import may_act_for, resolve_visitor


class IsVisitorOrAllowed(BasePermission):
    """The visitor named in the URL (by their own token or cookie), an API client, or a user with
    the view's ``required_perm`` (e.g. a privacy officer).

    A visitor's own token only reaches an anonymous profile: an account's data (a profile a login
    handed to or merged into a user) needs that user's session.
    """

    message = "Only the visitor, a server client or a privacy officer may do this."

    def has_permission(self, request, view) -> bool:
        if is_api_client(request):
            return True
        perm = getattr(view, "required_perm", None)
        if perm and request.user and request.user.has_perm(perm):
            return True
        if not getattr(view, "allow_self", True):
            return False
        visitor_id = view.kwargs.get("visitor_id")
        if resolve_visitor(request) != visitor_id:
            return False
        return may_act_for(request, get_snapshot(visitor_id))


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(request) -> set[str]:
    """The site's own origin, plus ``PERSONALIZATION_ALLOWED_ORIGINS``."""
    own = f"{request.scheme}://{request.get_host()}".lower()
    return {own, *(o.rstrip("/").lower() for o in get_setting("ALLOWED_ORIGINS"))}


def check_origin(request) -> None:
    """Refuse a browser's state change (consent, events, erasure) sent from another site.

    Browsers send ``Origin`` on every cross-site POST/DELETE (``Referer`` when an old one omits
    it), so a page elsewhere cannot record consent or events for our visitor with their cookie.
    A request with neither header comes from no browser page, and cannot carry a victim's cookie
    through one: it passes, like a server client does.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return
        origin = _origin_of(referer) or "null"
    if origin.rstrip("/").lower() not in allowed_origins(request):
        raise PermissionDenied(
            {
                "origin": [
                    f"Cross-site request from {origin[:200]!r} refused: add the origin to "
                    "PERSONALIZATION_ALLOWED_ORIGINS if it is your own site."
                ]
            }
        )
