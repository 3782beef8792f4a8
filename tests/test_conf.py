"""``get_setting`` keeps what it read, and forgets it whenever Django announces a change."""

from __future__ import annotations

from django.test import override_settings

from personalization.conf import DEFAULTS, get_setting


def test_a_changed_setting_is_seen_at_once_and_its_default_comes_back(settings):
    default = DEFAULTS["RECOMMENDATIONS_MAX_LIMIT"]
    assert get_setting("RECOMMENDATIONS_MAX_LIMIT") == default  # read, and kept
    settings.PERSONALIZATION_RECOMMENDATIONS_MAX_LIMIT = 7
    assert get_setting("RECOMMENDATIONS_MAX_LIMIT") == 7
    with override_settings(PERSONALIZATION_RECOMMENDATIONS_MAX_LIMIT=3):
        assert get_setting("RECOMMENDATIONS_MAX_LIMIT") == 3
    assert get_setting("RECOMMENDATIONS_MAX_LIMIT") == 7
    del settings.PERSONALIZATION_RECOMMENDATIONS_MAX_LIMIT
    assert get_setting("RECOMMENDATIONS_MAX_LIMIT") == default


def test_other_settings_changing_keeps_what_was_read(settings):
    value = get_setting("COOKIE_NAME")
    settings.DEBUG = not settings.DEBUG
    assert get_setting("COOKIE_NAME") is value
