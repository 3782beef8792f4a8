"""Finding the visitor an API call is about, from body, header, cookie or login."""

from __future__ import annotations

import uuid

from rest_framework.exceptions import ValidationError

from ...conf import get_setting
from ...profiles.identity import parse_raw_visitor_id, parse_visitor_token, sign_visitor_id
from ...visitors import ensure_visitor_id, visitor_id_from_request
from .authentication import is_api_client


def resolve_visitor(request, body_value: object = None) -> uuid.UUID | None:
    """The visitor id of this call, or None if the caller has none yet.

    An explicit id (body ``visitor_id`` or the ``X-Visitor-Id`` header) must be a valid signed
    token; API clients may also pass a bare UUID. A forged one is a 400 naming where it came from.
    """
    header_name = get_setting("VISITOR_HEADER")
    trusted = is_api_client(request)
    parse = parse_raw_visitor_id if trusted else parse_visitor_token
    for field, value in (
        ("visitor_id", body_value),
        (header_name, request.headers.get(header_name)),
    ):
        if value in (None, ""):
            continue
        visitor_id = parse(value)
        if visitor_id is None:
            raise ValidationError({field: ["Invalid or forged visitor id."]})
        return visitor_id
    if trusted:
        return None
    return visitor_id_from_request(request._request)


def mint_visitor(request) -> uuid.UUID:
    """A new id: the browser gets it as a cookie, headless clients read ``visitor_token``."""
    return ensure_visitor_id(request._request)


def visitor_token(visitor_id: uuid.UUID | None) -> str | None:
    return sign_visitor_id(visitor_id) if visitor_id else None
