"""The rendering tests' page and segment fixtures, for the variant tests."""

from ..rendering.conftest import home, segments  # noqa: F401 - fixtures
