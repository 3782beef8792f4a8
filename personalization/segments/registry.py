"""Condition types by name; host projects add theirs with a Wagtail hook.

@hooks.register("register_personalization_condition_types")
def my_conditions():
    return [LoyaltyTier]          # Condition subclasses
"""

from __future__ import annotations

from .base import Condition

_types: dict[str, type[Condition]] | None = None


def condition_types() -> dict[str, type[Condition]]:
    global _types
    if _types is None:
        from wagtail import hooks

        from .profile_conditions import PROFILE_CONDITIONS
        from .request_conditions import REQUEST_CONDITIONS

        found = {c.type: c for c in [*PROFILE_CONDITIONS, *REQUEST_CONDITIONS]}
        for hook in hooks.get_hooks("register_personalization_condition_types"):
            for condition in hook():
                found[condition.type] = condition
        _types = found
    return _types


def reset() -> None:
    """Forget the cached table (tests that register types temporarily)."""
    global _types
    _types = None
