"""Registry of event types; host projects add their own through a Wagtail hook. Also the
hooks through which higher layers plug into lower ones (experiment assigners, snapshot
derivers).

A type names the properties it requires and their Python types, so ingestion can reject a
``purchase`` without a numeric ``value`` with an error that names the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_NUMBER = (int, float)


@dataclass(frozen=True)
class EventType:
    name: str
    required: dict[str, tuple[type, ...]] = field(default_factory=dict)
    optional: dict[str, tuple[type, ...]] = field(default_factory=dict)
    description: str = ""


_COMMON_OPTIONAL: dict[str, tuple[type, ...]] = {
    "page_id": (int,),
    "page_type": (str,),
    "url": (str,),
    "title": (str,),
    "tags": (list,),
    "category": (str,),
    "decision_id": (str,),
}

BUILTIN_EVENT_TYPES = [
    EventType("page_view", description="A page was shown."),
    EventType("content_view", description="A piece of content (block, product card) was seen."),
    EventType("click", description="An element was clicked."),
    EventType("search", required={"query": (str,)}, description="A site search."),
    EventType("add_to_cart", optional={"value": _NUMBER, "sku": (str,), "currency": (str,)}),
    EventType(
        "purchase",
        required={"value": _NUMBER},
        optional={"currency": (str,), "order_id": (str,)},
        description="A completed order; value feeds the monetary part of RFM.",
    ),
    EventType("form_submit", optional={"form": (str,)}),
    EventType("signup"),
    EventType("custom", required={"name": (str,)}, description="Anything else, named."),
]

_registry: dict[str, EventType] | None = None


def register_event_type(event_type: EventType) -> None:
    """Add or replace an event type (also reachable via the hook below)."""
    event_types()[event_type.name] = event_type


def event_types() -> dict[str, EventType]:
    """Built-in event types plus those from ``register_personalization_event_types`` hooks."""
    global _registry
    if _registry is None:
        from wagtail import hooks

        registry = {t.name: t for t in BUILTIN_EVENT_TYPES}
        for hook in hooks.get_hooks("register_personalization_event_types"):
            for event_type in hook():
                registry[event_type.name] = event_type
        _registry = registry
    return _registry


def allowed_properties(event_type: EventType) -> dict[str, tuple[type, ...]]:
    return {**_COMMON_OPTIONAL, **event_type.optional, **event_type.required}


# -- assigners: decision packages that put a visitor into experiments -------------------------
# The visitor context (a lower layer) calls these while it is built, so the arms join the
# compact segment key without the context importing the package that computes them.

_assigners: list = []


def register_assigner(assigner) -> None:
    """``assigner(visitor_id, segments, request, snapshot, now, content_version)`` returns a
    tuple of ``ArmAssignment``; it must not do I/O beyond memoised definitions."""
    if assigner not in _assigners:
        _assigners.append(assigner)


def assigners() -> list:
    return list(_assigners)


# -- snapshot derivers: work done when a profile snapshot is cached, not on every request -------
# The profiles layer calls these before it caches a snapshot; a higher layer (segments) adds
# what it can compute from the profile alone, without profiles importing it.

_derivers: list = []


def register_deriver(deriver) -> None:
    """``deriver(snapshot)`` returns the snapshot with entries added to its ``derived``."""
    if deriver not in _derivers:
        _derivers.append(deriver)


def derivers() -> list:
    return list(_derivers)
