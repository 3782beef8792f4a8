"""Text that PostgreSQL can store: no NUL characters, no unpaired UTF-16 surrogates.

JSON lets a client write both (``"\\u0000"``, ``"\\ud800"``); Python keeps them in ``str``, and
PostgreSQL then refuses the row (``text`` and ``jsonb`` cannot hold U+0000; a lone surrogate is
not encodable as UTF-8). Every edge rejects them with a 400 naming the field instead.
"""

from __future__ import annotations

import math
import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "Contains a NUL character (U+0000)."
    return "Contains an unpaired surrogate (not valid Unicode)."


def find_unstorable(data: Any, path: str = "") -> tuple[str, str] | None:
    """The first (path, problem) in parsed JSON whose text or number cannot be stored.

    Paths read like ``events[0].properties.note``; the caller bounds the depth beforehand.
    """
    if isinstance(data, str):
        problem = text_problem(data)
        return (path or "body", problem) if problem else None
    if isinstance(data, float) and not math.isfinite(data):
        return path or "body", "Must be a finite number."
    if isinstance(data, dict):
        for key, value in data.items():
            child = f"{path}.{key}" if path else str(key)
            problem = text_problem(key) if isinstance(key, str) else None
            if problem:
                return (path or "body"), f"A key {problem[0].lower()}{problem[1:]}"
            found = find_unstorable(value, child)
            if found:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = find_unstorable(value, f"{path}[{index}]")
            if found:
                return found
    return None


TYPE_NAMES = {
    int: "a number",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


def type_names(types: tuple[type, ...]) -> str:
    """ "a number", "a string or a list": each kind named once (int and float are both "a
    number", so (int, float) is not "a number or number")."""
    return " or ".join(dict.fromkeys(TYPE_NAMES.get(t, f"a {t.__name__}") for t in types))
