"""The JSON parser, which refuses oversized bodies before reading them whole.

Only ``application/json`` is parsed; any other content type is a 415. ``text/plain`` in
particular is not: it is the content type a page on another site can send without a CORS
preflight, so accepting it would let such a page record consent or events (the tracker's
beacons send ``application/json``).

Three bounds keep hostile JSON a 4xx: the size (``MAX_BODY_BYTES``, before reading), the nesting
depth (``MAX_JSON_DEPTH``, counted before ``json.loads`` so the parser never recurses deeply), and
the text itself (no NUL or unpaired surrogate anywhere, which PostgreSQL cannot store).
"""

from __future__ import annotations

import json
import math
import re

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import BaseParser

from ...conf import get_setting
from ...text import find_unstorable

_ESCAPES = re.compile(r"\\.", re.DOTALL)
# With escapes gone, strings are plain "..." and drop out whole, as does all but brackets.
_NOT_BRACKETS = re.compile(r'"[^"]*"|[^\[\]{}"]+')
_INNERMOST = re.compile(r"\[\]|\{\}")


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (or do not balance).

    Each step is one linear regular-expression pass in C: keep the brackets, then remove the
    innermost pairs ``limit`` times; whatever is left nests deeper. Never recursive.
    """
    skeleton = _NOT_BRACKETS.sub("", _ESCAPES.sub("", text))
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton, removed = _INNERMOST.subn("", skeleton)
        if not removed:
            break
    return bool(skeleton)


def _float_flagging(flagged: list[str]):
    def parse_float(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            flagged.append(literal)
        return value

    return parse_float


def _constant_flagging(flagged: list[str]):
    def parse_constant(literal: str) -> float:
        flagged.append(literal)
        return float(literal)  # what json.loads returns for NaN, Infinity, -Infinity

    return parse_constant


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
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
        depth = get_setting("MAX_JSON_DEPTH")
        too_deep = json_depth_exceeds(text, depth)
        flagged: list[str] = []
        try:
            data = json.loads(
                text,
                parse_float=_float_flagging(flagged),
                parse_constant=_constant_flagging(flagged),
            )
        except RecursionError:
            too_deep = True
        except ValueError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
        if too_deep:
            raise ValidationError({"body": [f"JSON nested deeper than {depth} levels."]})
        # NUL and lone surrogates can only come from a \\u escape, and a non-finite number only
        # from NaN/Infinity or a float too large: without either, the walk would find nothing.
        found = find_unstorable(data) if ("\\u" in text or flagged) else None
        if found is not None:
            field, problem = found
            raise ValidationError({field: [problem]})
        return data
