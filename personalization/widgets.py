"""The rule builder: a form widget that edits a segment's rule tree without writing JSON.

The widget renders a textarea holding the JSON (what the form posts) and a tree of groups and
conditions drawn by ``static/personalization/rule_builder.js``. The script learns which condition
types exist, and which parameters each takes, from ``condition_catalog()`` below, which reads the
parameters from the condition classes (``Condition.fields``): nothing is described here.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.urls import NoReverseMatch, reverse

from .segments.base import PROFILE, UNITS
from .segments.registry import condition_types

PROFILE_GROUP = "Stored on the profile"
REQUEST_GROUP = "Checked per request"


def param_schemas(segment_choices: list[tuple[str, str]] | None = None) -> dict[str, list]:
    """The parameters of each condition type, as its class declares them (``fields``)."""
    return {
        type_name: condition.param_fields(segment_choices)
        for type_name, condition in condition_types().items()
    }


def condition_catalog(segment_choices: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Everything the script needs: groups of condition types, with their parameters.

    A type registered by the host project without ``fields`` gets a JSON box for params.
    """
    schemas = param_schemas(segment_choices)
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
        "units": list(UNITS),
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
