"""How a condition's parameters are described: once, on the condition class.

Each condition class lists its parameters in ``fields``. The rule builder draws its inputs from
that list (``widgets.condition_catalog``), and ``Condition.__init__`` enforces what the list
says (a visible required parameter is present, a select's value is one of its options) before
the class parses the values. So a new condition type is one class: a host project's class with
``fields`` gets a builder form and the same checks, and the builder cannot offer an operator the
server refuses (or miss one it accepts).

A field is a plain dict (the script reads it as JSON):
``{"name", "kind", "label", "required", ...}`` where ``kind`` is one of :data:`KINDS` and
``show_if`` (``{"param": .., "in": [..]}``) shows it, and checks it, only for some values of
another parameter.
"""

from __future__ import annotations

from typing import Any

# Written in a help text where the site's TIME_ZONE belongs: filled in when the builder asks
# (``for_builder``), so settings are read per call, never at import time.
SITE_ZONE = "{site_time_zone}"

KINDS = ("text", "number", "select", "bool", "list", "choices", "window", "date", "time", "scalar")


def field(name: str, kind: str, label: str, **extra: Any) -> dict[str, Any]:
    """One input of a condition (required unless ``required=False``)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown field kind {kind!r}; one of {', '.join(KINDS)}.")
    return {"name": name, "kind": kind, "label": label, "required": True, **extra}


def for_builder(fields: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The fields with the site's time zone written into their help texts."""
    from django.conf import settings

    if fields is None:
        return None
    return [
        {**spec, "help": spec["help"].replace(SITE_ZONE, settings.TIME_ZONE)}
        if SITE_ZONE in spec.get("help", "")
        else spec
        for spec in fields
    ]


def when(param: str, *values: str) -> dict[str, Any]:
    """``**when("op", "between")``: the field applies only for these values of ``param``."""
    return {"show_if": {"param": param, "in": list(values)}}


def visible(spec: dict[str, Any], params: dict[str, Any]) -> bool:
    rule = spec.get("show_if")
    return rule is None or params.get(rule["param"]) in rule["in"]


def option_values(spec: dict[str, Any]) -> list[Any]:
    return [o["value"] if isinstance(o, dict) else o for o in spec.get("options") or []]


def options(fields: list[dict[str, Any]], name: str) -> list[Any]:
    """The options of the (first) select or choices field called ``name``."""
    for spec in fields:
        if spec["name"] == name and "options" in spec:
            return option_values(spec)
    raise KeyError(name)


def check(fields: list[dict[str, Any]], params: dict[str, Any]) -> None:
    """Raise ``ConditionError`` where ``params`` break what ``fields`` declare."""
    from .base import ConditionError

    for spec in fields:
        if not visible(spec, params):
            continue
        name = spec["name"]
        value = params.get(name)
        if value is None:
            if spec["required"]:
                raise ConditionError(f"params.{name}", "Required.")
            continue
        if spec["kind"] not in ("select", "choices") or spec.get("free"):
            continue
        allowed = option_values(spec)
        listed = ", ".join(str(v) for v in allowed)
        if spec["kind"] == "select":
            if not isinstance(value, str) or value not in allowed:
                raise ConditionError(f"params.{name}", f"Must be one of: {listed}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if item not in allowed:
                    raise ConditionError(f"params.{name}[{i}]", f"Must be one of: {listed}.")


# -- field groups several condition types share -------------------------------------------


def range_fields(ops: list[str], value_label: str = "Value") -> list[dict[str, Any]]:
    return [
        field("op", "select", "Operator", options=ops, default=">="),
        field("value", "number", value_label),
        field("value2", "number", "and", **when("op", "between")),
    ]


def one_of(label: str, placeholder: str) -> list[dict[str, Any]]:
    return [field("in", "list", label, placeholder=placeholder)]


def zone() -> dict[str, Any]:
    return field(
        "timezone",
        "text",
        "Time zone",
        required=False,
        placeholder="visitor",
        help=(
            "'visitor' (default): the visitor's zone where known (set by tracker.js, or the "
            f"API's timezone), else the site's ({SITE_ZONE}). Or an IANA name such as "
            "Europe/Berlin."
        ),
    )
