"""What a free-text rule parameter may sensibly hold: the values that exist.

The rule builder's event field accepted "pageview" (a typo: no such event is ever stored, so the
segment stays empty with no hint why), and "Only for" needed ``page_type:demo.articlepage``
typed from memory. A parameter names its vocabulary (``"vocabulary": "event_types"`` in its
field description); the builder offers the vocabulary's values as suggestions, and
``unknown_values`` lists the values of a rule tree that are not in it, as warnings (a warning,
not an error: a type registered later, or a tag not seen yet, is still a valid rule).

Vocabularies read registered event types, the site's page models, and, where cheap, the tags
and categories of the newest page views (one bounded query, ``SEEN_SAMPLE`` rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events.models import Event
from ..registry import event_types

SEEN_SAMPLE = 2000
SEEN_LIMIT = 100  # per prefix (tags, categories)


def event_type_options() -> list[dict[str, str]]:
    """Registered event types, labelled with their description where they have one."""
    return [
        {
            "value": name,
            "label": f"{name} — {kind.description}" if getattr(kind, "description", "") else name,
        }
        for name, kind in sorted(event_types().items())
    ]


def page_type_options() -> list[dict[str, str]]:
    """``page_type:<app>.<model>`` for each Wagtail page model, labelled by verbose name."""
    try:
        from wagtail.models import get_page_models
    except ImportError:  # pragma: no cover - Wagtail is a dependency
        return []
    options = []
    for model in get_page_models():
        if model._meta.abstract or model._meta.label_lower == "wagtailcore.page":
            continue
        name = str(model._meta.verbose_name)
        options.append(
            {
                "value": f"page_type:{model._meta.label_lower}",
                "label": f"Page type: {name[:1].upper()}{name[1:]}",
            }
        )
    return sorted(options, key=lambda o: o["label"])


def seen_dimension_options() -> list[dict[str, str]]:
    """Tags and categories of the newest page views: one query, at most ``SEEN_SAMPLE`` rows."""
    tags: dict[str, None] = {}
    categories: dict[str, None] = {}
    rows = (
        Event.objects.filter(type="page_view")
        .order_by("-timestamp")
        .values_list("properties", flat=True)[:SEEN_SAMPLE]
    )
    for properties in rows:
        if not isinstance(properties, dict):
            continue
        for tag in properties.get("tags") or ():
            if isinstance(tag, str) and tag.strip() and len(tags) < SEEN_LIMIT:
                tags[tag.strip().lower()] = None
        category = properties.get("category")
        if isinstance(category, str) and category.strip() and len(categories) < SEEN_LIMIT:
            categories[category.strip().lower()] = None
    return [
        *({"value": f"tag:{t}", "label": f"Tag: {t}"} for t in sorted(tags)),
        *({"value": f"category:{c}", "label": f"Category: {c}"} for c in sorted(categories)),
    ]


def dimension_options() -> list[dict[str, str]]:
    return [*page_type_options(), *seen_dimension_options()]


VOCABULARIES: dict[str, Callable[[], list[dict[str, str]]]] = {
    "event_types": event_type_options,
    "dimensions": dimension_options,
}


def suggestions(name: str) -> list[dict[str, str]]:
    return VOCABULARIES[name]()


def with_suggestions(schemas: dict[str, list | None]) -> dict[str, list | None]:
    """The builder's parameter schemas with ``suggestions`` filled in for each field that names
    a vocabulary; each vocabulary is read once, however many fields use it."""
    cache: dict[str, list[dict[str, str]]] = {}
    filled: dict[str, list | None] = {}
    for type_name, fields in schemas.items():
        if fields is None:
            filled[type_name] = None
            continue
        out = []
        for spec in fields:
            name = spec.get("vocabulary")
            if name in VOCABULARIES:
                if name not in cache:
                    cache[name] = suggestions(name)
                spec = {**spec, "suggestions": cache[name]}
            out.append(spec)
        filled[type_name] = out
    return filled


def unknown_value(vocabulary: str, value: Any) -> str:
    """Why ``value`` looks wrong for the vocabulary, or "" if it is known (or cannot be
    judged: tags and categories not seen yet are fine, a page type must exist)."""
    if not isinstance(value, str) or not value:
        return ""
    if vocabulary == "event_types":
        known = event_types()
        if value in known:
            return ""
        close = [name for name in known if _close(name, value)]
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return (
            f"'{value}' is not a registered event type: no such event is stored, so nobody "
            f"matches.{hint}"
        )
    if vocabulary == "dimensions" and value.lower().startswith("page_type:"):
        known_types = {o["value"] for o in page_type_options()}
        if value.lower() not in known_types:
            return f"'{value}' is not a page type of this site, so nobody matches."
    return ""


def _close(known: str, value: str) -> bool:
    """A typo's likely target: the same letters once separators and case are ignored."""

    def squash(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    return squash(known) == squash(value)


def rule_warnings(rules: Any) -> list[dict[str, str]]:
    """``{"path", "message"}`` for each parameter whose value is not in its field's vocabulary,
    paths as in validation errors (``all[0].params.event``). Call it on rules that validated."""
    from .registry import condition_types

    known = condition_types()
    warnings: list[dict[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        for key in ("all", "any"):
            if isinstance(node.get(key), list):
                for i, child in enumerate(node[key]):
                    walk(child, f"{path}.{key}[{i}]" if path else f"{key}[{i}]")
                return
        if "not" in node:
            walk(node["not"], f"{path}.not" if path else "not")
            return
        kind = known.get(node.get("type"))
        params = node.get("params")
        if kind is None or not isinstance(params, dict):
            return
        # The vocabularies the class declares on its parameters (``Condition.fields``).
        declared = getattr(kind, "fields", None) or ()
        vocabularies = {s["name"]: s["vocabulary"] for s in declared if s.get("vocabulary")}
        for name, vocabulary in vocabularies.items():
            if name not in params:
                continue
            message = unknown_value(vocabulary, params[name])
            if message:
                where = f"params.{name}"
                warnings.append({"path": f"{path}.{where}" if path else where, "message": message})

    walk(rules, "")
    return warnings
