"""A fast path for the recommendations query string, as ``decide_input`` is for decide's body.

``RecommendationsQuerySerializer`` deep-copies its eight fields on every request (~0.35 ms, the
largest single cost of a warm call). Most query strings are plainly valid, so they are checked
by hand here, conservatively: a query this module accepts is one the serializer accepts with
the same validated data (a test compares both on a corpus). Anything else, including every
query that is wrong, goes to the serializer, so the 400s naming the field and the OpenAPI
schema stay exactly the serializer's.
"""

from __future__ import annotations

import re
from typing import Any

from ...conf import get_setting
from .decide_input import SLUG
from .recommendation_serializers import (
    ITEM_ID,
    LOCALE,
    PAGE_TYPE,
    PAGE_TYPES_MAX,
    PLACEMENT_MAX,
)

_ITEM_ID = re.compile(ITEM_ID)
_PAGE_TYPE = re.compile(PAGE_TYPE)
_LOCALE = re.compile(LOCALE)
# Plain ASCII numbers only: signs, spaces, "6.0" or other digits go to the serializer.
_COUNT = re.compile(r"[1-9][0-9]{0,8}")
_SHARE = re.compile(r"0(\.[0-9]{1,6})?|1(\.0{1,6})?")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _count(value: str | None, default: int | None) -> int | None:
    """A positive int, the default when absent, or -1 when not plainly one."""
    if value is None:
        return default
    return int(value) if _COUNT.fullmatch(value) else -1


def _matches(pattern: re.Pattern, value: str | None) -> bool:
    return value is None or pattern.fullmatch(value) is not None


def _page_types(values: list[str] | None) -> list[str] | None:
    if values is None:
        return []
    if len(values) > PAGE_TYPES_MAX or not all(_PAGE_TYPE.fullmatch(v) for v in values):
        return None
    return list(values)


def _flag(value: str | None) -> tuple[bool, bool | None]:
    """``(plainly valid, value)`` of ``exclude_seen``: absent is None."""
    return (True, None) if value is None else (value in _BOOLEANS, _BOOLEANS.get(value))


def _share(value: str | None) -> tuple[bool, float | None]:
    """``(plainly valid, value)`` of ``diversity`` (0 to 1): absent is None."""
    if value is None:
        return True, None
    return (True, float(value)) if _SHARE.fullmatch(value) else (False, None)


def well_formed_recommendations_query(raw: dict[str, Any]) -> dict | None:
    """The validated query when it is plainly valid, else None (ask the serializer).

    ``raw`` is what the view hands the serializer: the last value of each parameter, and the
    list of ``page_type`` values; unknown names were refused before.
    """
    limit = _count(raw.get("limit"), 6)
    site = _count(raw.get("site"), None)
    if not 1 <= limit <= get_setting("RECOMMENDATIONS_MAX_LIMIT") or site == -1:
        return None
    placement = raw.get("placement")
    if placement is not None and (len(placement) > PLACEMENT_MAX or not SLUG.fullmatch(placement)):
        return None
    if not (_matches(_ITEM_ID, raw.get("context_item")) and _matches(_LOCALE, raw.get("locale"))):
        return None
    page_types = _page_types(raw.get("page_type"))
    seen_ok, exclude_seen = _flag(raw.get("exclude_seen"))
    share_ok, diversity = _share(raw.get("diversity"))
    if page_types is None or not (seen_ok and share_ok):
        return None
    validated: dict[str, Any] = {"limit": limit}
    if "context_item" in raw:
        validated["context_item"] = raw["context_item"]
    validated.update(
        placement=placement or "",
        page_type=page_types,
        locale=raw.get("locale") or "",
        site=site,
        exclude_seen=exclude_seen,
        diversity=diversity,
    )
    return validated
