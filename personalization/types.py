"""Frozen dataclasses that cross layers: what the edges hand to services."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(frozen=True)
class EventIn:
    """One validated event, ready to store."""

    type: str
    timestamp: datetime
    properties: dict[str, Any] = field(default_factory=dict)
    client_id: str | None = None


@functools.lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> tuple[str, str, str, bool]:
    """(device type, OS family, browser family, is bot) for a user agent string.

    Parsing costs about a millisecond, and a site sees few distinct agents, so results are memoised.
    """
    from user_agents import parse

    from .conf import get_setting

    if not user_agent:
        return "", "", "", False
    parsed = parse(user_agent)
    lowered = user_agent.lower()
    is_bot = parsed.is_bot or any(marker in lowered for marker in get_setting("BOT_MARKERS"))
    if is_bot:
        device = "bot"
    elif parsed.is_tablet:
        device = "tablet"
    elif parsed.is_mobile:
        device = "mobile"
    elif parsed.is_pc:
        device = "desktop"
    else:
        device = "other"
    return device, parsed.os.family or "", parsed.browser.family or "", is_bot


@dataclass(frozen=True)
class RequestContext:
    """What a request tells about the visitor: device, place, language, where they came from."""

    user_agent: str = ""
    device_type: str = ""
    os: str = ""
    browser: str = ""
    is_bot: bool = False
    country: str = ""
    region: str = ""
    language: str = ""
    referrer: str = ""
    url: str = ""
    dnt: bool = False
    gpc: bool = False

    @classmethod
    def from_user_agent(cls, user_agent: str, **fields: Any) -> RequestContext:
        device, os_family, browser, is_bot = parse_user_agent(user_agent or "")
        return cls(
            user_agent=user_agent or "",
            device_type=device,
            os=os_family,
            browser=browser,
            is_bot=is_bot,
            **fields,
        )

    @property
    def utm(self) -> dict[str, str]:
        if not self.url:
            return {}
        query = urlsplit(self.url).query
        return {k: v[:200] for k, v in parse_qsl(query) if k in UTM_KEYS}

    def as_event_context(self) -> dict[str, Any]:
        """The compact form stored beside each event, so folding needs no request."""
        data: dict[str, Any] = {
            "device_type": self.device_type,
            "os": self.os,
            "browser": self.browser,
            "country": self.country,
            "region": self.region,
            "language": self.language,
            "referrer": self.referrer[:500],
            "url": self.url[:500],
        }
        utm = self.utm
        if utm:
            data["utm"] = utm
        return {k: v for k, v in data.items() if v}


@dataclass(frozen=True)
class IngestResult:
    """What happened to a batch: the API answers with these counts."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    ignored_reason: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    # Experiment conversions the batch made, or why a goal event was not counted.
    conversions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ArmAssignment:
    """A visitor's place in one running experiment: the arm (or ``"holdout"``), the probability
    the policy gave it (for off-policy evaluation), and what each placement shows in it."""

    experiment: int
    arm: str
    propensity: float = 1.0
    policy_version: int = 0
    variants: tuple[tuple[str, str], ...] = ()  # (placement, variant id or "" for the default)
    features: tuple[float, ...] = ()
    default_audience_only: bool = False  # applies only where no targeted variant matches

    def variant_for(self, placement: str) -> str | None:
        """The variant id this arm shows on a placement ("" = default), or None if not ours."""
        for name, variant_id in self.variants:
            if name == placement:
                return variant_id
        return None
