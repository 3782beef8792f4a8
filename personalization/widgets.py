"""The rule builder: a form widget that edits a segment's rule tree without writing JSON.

The widget renders a textarea holding the JSON (what the form posts) and a tree of groups and
conditions drawn by ``static/personalization/rule_builder.js``. The script learns which condition
types exist, and which parameters each takes, from ``condition_catalog()`` below.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from .consent.purposes import PURPOSES
from .segments.base import LOOKUPS, PROFILE
from .segments.base import UNITS as BASE_UNITS
from .segments.profile_conditions import Trait
from .segments.registry import condition_types
from .segments.request_conditions import DAYS
from .segments.vocabularies import with_suggestions

PROFILE_GROUP = "Stored on the profile"
REQUEST_GROUP = "Checked per request"

# The operators come from the condition classes themselves: one source of truth.
RANGE_OPS = [*LOOKUPS, "between"]
UNITS = list(BASE_UNITS)
TRAIT_OPS = list(Trait.ops)
NUMBER_OPS = ["gt", "gte", "lt", "lte"]


def _field(name: str, kind: str, label: str, **extra: Any) -> dict[str, Any]:
    """One input of a condition. ``kind`` is one of: text, number, select, bool, list, choices,
    window, date, time, scalar. ``show_if`` ({"param": .., "in": [..]}) shows it conditionally."""
    return {"name": name, "kind": kind, "label": label, "required": True, **extra}


def _when(param: str, *values: str) -> dict[str, Any]:
    return {"show_if": {"param": param, "in": list(values)}}


def _range(value_label: str = "Value") -> list[dict[str, Any]]:
    return [
        _field("op", "select", "Operator", options=RANGE_OPS, default=">="),
        _field("value", "number", value_label),
        _field("value2", "number", "and", **_when("op", "between")),
    ]


def _event_fields(value_label: str) -> list[dict[str, Any]]:
    return [
        _field("event", "text", "Event", placeholder="page_view", vocabulary="event_types"),
        _field(
            "dimension",
            "text",
            "Only for",
            required=False,
            placeholder="tag:pricing",
            help="Optional: tag:, category:, page: or page_type: followed by a value.",
            vocabulary="dimensions",
        ),
        *_range(value_label),
        _field("within", "window", "Within", allow_ever=True),
    ]


def _moment_fields() -> list[dict[str, Any]]:
    return [
        _field("op", "select", "When", options=["before", "after", "within"], default="within"),
        _field(
            "date",
            "date",
            "Date",
            help=f"Days start at midnight in the site's time zone ({settings.TIME_ZONE}).",
            **_when("op", "before", "after"),
        ),
        _field("within", "window", "In the last", allow_ever=False, **_when("op", "within")),
    ]


def _json_value_fields(ops: list[str]) -> list[dict[str, Any]]:
    fields = [
        _field("name", "text", "Name", placeholder="tier"),
        _field("op", "select", "Operator", options=ops, default=ops[0]),
    ]
    present = set(ops)
    if present & {"equals", "not_equals"}:
        fields.append(
            _field(
                "value",
                "scalar",
                "Value",
                help="Numbers are compared as numbers, anything else as text.",
                **_when("op", "equals", "not_equals"),
            )
        )
    if "in" in present:
        fields.append(_field("value", "list", "Values", coerce_numbers=True, **_when("op", "in")))
    text_ops = [op for op in ("contains", "starts_with", "ends_with", "regex") if op in present]
    if text_ops:
        fields.append(_field("value", "text", "Text", **_when("op", *text_ops)))
    number_ops = [op for op in NUMBER_OPS if op in present]
    if number_ops:
        fields.append(_field("value", "number", "Number", **_when("op", *number_ops)))
    date_ops = [op for op in ("date_before", "date_after") if op in present]
    if date_ops:
        fields.append(_field("value", "date", "Date", **_when("op", *date_ops)))
    return fields


def _one_of(label: str, placeholder: str) -> list[dict[str, Any]]:
    return [_field("in", "list", label, placeholder=placeholder)]


def _zone() -> dict[str, Any]:
    return _field(
        "timezone",
        "text",
        "Time zone",
        required=False,
        placeholder="visitor",
        help=(
            "'visitor' (default): the visitor's zone where known (set by tracker.js, or the "
            f"API's timezone), else the site's ({settings.TIME_ZONE}). Or an IANA name such as "
            "Europe/Berlin."
        ),
    )


def param_schemas(segment_choices: list[tuple[str, str]] | None = None) -> dict[str, list]:
    """The parameters of each built-in condition type, as the builder shows them."""
    segments = [
        {"value": slug, "label": f"{name} ({slug})"} for slug, name in segment_choices or []
    ]
    return {
        "event_count": _event_fields("Times"),
        "value_sum": _event_fields("Amount"),
        "first_seen": _moment_fields(),
        "last_seen": _moment_fields(),
        "visit_count": _range("Visits"),
        "returning": [
            _field(
                "value",
                "bool",
                "Returning",
                true_label="Returning visitor",
                false_label="First-time visitor",
            )
        ],
        "trait": _json_value_fields(TRAIT_OPS),
        "score": _json_value_fields(["gt", "gte", "lt", "lte", "exists", "missing"]),
        "persona": _one_of("Personas", "bargain_hunter, researcher"),
        "consent": [
            _field("purpose", "select", "Purpose", options=list(PURPOSES), default="marketing"),
            _field("granted", "bool", "Answer", true_label="Granted", false_label="Refused"),
        ],
        "random_sample": [_field("percent", "number", "Percent", min=0, max=100, step="any")],
        "segment": [_field("segment", "select", "Segment", options=segments, free=True)],
        "device": [
            _field("in", "choices", "Devices", options=["desktop", "mobile", "tablet", "other"])
        ],
        "os": _one_of("Operating systems", "iOS, Android"),
        "browser": _one_of("Browsers", "Chrome, Safari"),
        "country": _one_of("Countries", "DE, AT, CH"),
        "region": _one_of("Regions", "BY, NW"),
        "language": _one_of("Languages", "de, en-GB"),
        "time_of_day": [
            _field("from", "time", "From"),
            _field("to", "time", "To"),
            _zone(),
        ],
        "day_of_week": [_field("in", "choices", "Days", options=DAYS), _zone()],
        "date_range": [
            _field(
                "from",
                "text",
                "From",
                required=False,
                placeholder="2025-11-28T00:00:00+01:00",
            ),
            _field("to", "text", "Until", required=False, placeholder="2025-12-01T00:00:00+01:00"),
        ],
        "referrer": [
            _field("match", "select", "Match", options=["domain", "regex"], default="domain"),
            _field("value", "text", "Referrer", placeholder="google.com"),
        ],
        "query_param": [
            _field("name", "text", "Parameter", placeholder="utm_campaign"),
            _field("value", "text", "Equals", required=False, placeholder="(any value)"),
        ],
        "logged_in": [
            _field("value", "bool", "Logged in", true_label="Logged in", false_label="Anonymous")
        ],
        "user_group": _one_of("Groups", "Customers, Staff"),
    }


def condition_catalog(segment_choices: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Everything the script needs: groups of condition types, with their parameters.

    A type registered by the host project without a schema here gets a JSON box for params.
    """
    schemas = with_suggestions(param_schemas(segment_choices))
    types = []
    for type_name, condition in condition_types().items():
        types.append(
            {
                "type": type_name,
                "label": str(condition.label or type_name),
                "description": str(condition.description or ""),
                "kind": condition.kind,
                "group": PROFILE_GROUP if condition.kind == PROFILE else REQUEST_GROUP,
                "params": schemas.get(type_name),
            }
        )
    return {
        "groups": [PROFILE_GROUP, REQUEST_GROUP],
        "types": types,
        "units": UNITS,
    }


def estimate_url() -> str:
    try:
        return reverse("personalization_api:segment-estimate")
    except NoReverseMatch:  # the host project did not mount the API
        return ""


class RuleBuilderWidget(forms.Textarea):
    """A textarea of JSON, enhanced into a tree editor by ``rule_builder.js``."""

    template_name = "personalization/admin/widgets/rule_builder.html"

    def __init__(self, attrs=None, *, segment_choices=None, can_estimate: bool = True):
        super().__init__(attrs={"rows": 12, "spellcheck": "false", **(attrs or {})})
        self.segment_choices = segment_choices
        self.can_estimate = can_estimate

    class Media:
        js = ["personalization/rule_builder.js"]
        css = {"all": ["personalization/rule_builder.css"]}

    def format_value(self, value):
        if value is None or value == "":
            return json.dumps({"all": []}, indent=2)
        if isinstance(value, str):
            return value  # what the user typed, even if it is not valid JSON
        return json.dumps(value, indent=2)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        choices = self.segment_choices
        if callable(choices):
            choices = choices()
        context["widget"]["catalog"] = condition_catalog(list(choices or []))
        context["widget"]["catalog_id"] = f"{(attrs or {}).get('id') or name}-catalog"
        context["widget"]["estimate_url"] = estimate_url() if self.can_estimate else ""
        return context
