"""Personalization for Wagtail: events, profiles, consent and privacy, segments and decisions."""

__version__ = "0.1.0"
