"""Who may act on a visitor's data: the visitor, a server client, or a user holding the perm."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from .authentication import is_api_client
from .identity import resolve_visitor


class IsVisitorOrAllowed(BasePermission):
    """The visitor named in the URL (by their own token or cookie), an API client, or a user with
    the view's ``required_perm`` (e.g. a privacy officer)."""

    message = "Only the visitor, a server client or a privacy officer may do this."

    def has_permission(self, request, view) -> bool:
        if is_api_client(request):
            return True
        perm = getattr(view, "required_perm", None)
        if perm and request.user and request.user.has_perm(perm):
            return True
        if not getattr(view, "allow_self", True):
            return False
        return resolve_visitor(request) == view.kwargs.get("visitor_id")
