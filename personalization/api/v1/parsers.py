"""The JSON parser, which refuses oversized bodies before reading them whole.

Only ``application/json`` is parsed; any other content type is a 415. ``text/plain`` in
particular is not: it is the content type a page on another site can send without a CORS
preflight, so accepting it would let such a page record consent or events (the tracker's
beacons send ``application/json``).
"""

from __future__ import annotations

import json

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from ...conf import get_setting


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"

    def __init__(self) -> None:
        super().__init__(
            {"body": [f"The request body is larger than {get_setting('MAX_BODY_BYTES')} bytes."]}
        )


class BoundedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = get_setting("MAX_BODY_BYTES")
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and str(declared).isdigit() and int(declared) > limit:
            raise PayloadTooLarge()
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge()
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
