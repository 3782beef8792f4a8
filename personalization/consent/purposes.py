"""The purposes a visitor can consent to, and what each one allows."""

from __future__ import annotations

NECESSARY = "necessary"
ANALYTICS = "analytics"
PERSONALIZATION = "personalization"
MARKETING = "marketing"

PURPOSES: tuple[str, ...] = (NECESSARY, ANALYTICS, PERSONALIZATION, MARKETING)

DESCRIPTIONS = {
    NECESSARY: "Remember the visitor's id and consent choices. Always on.",
    ANALYTICS: "Store behavioural events (page views, clicks, purchases).",
    PERSONALIZATION: "Build a profile from events and traits, and adapt content to it.",
    MARKETING: "Share the profile with marketing tools (webhooks, exports).",
}

# Purposes under which behavioural events may be stored: the event log serves both.
EVENT_PURPOSES = (ANALYTICS, PERSONALIZATION)
