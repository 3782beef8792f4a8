"""drf-spectacular's ``extend_schema``, pinned to drf-spectacular's ``AutoSchema``.

``extend_schema`` on a view method builds its schema class on the host's
``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`` as it is when the module is imported. A project that
never set it (a stock ``wagtail start`` project) has DRF's own ``AutoSchema`` there, and the
schema endpoint then fails. Naming the base on the method first makes the host's default
irrelevant, as every other policy of these views is.
"""

from __future__ import annotations

import inspect

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema as _extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

__all__ = ["AutoSchema", "DocsView", "SchemaView", "extend_schema"]


def extend_schema(*args, **kwargs):
    decorate = _extend_schema(*args, **kwargs)

    def decorator(f):
        if not inspect.isclass(f) and not getattr(f, "kwargs", {}).get("schema"):
            f.schema = AutoSchema  # the base extend_schema builds on (its first choice)
        return decorate(f)

    return decorator


class SchemaView(SpectacularAPIView):
    """The OpenAPI document, left out of itself, whatever the host's schema class."""

    schema = AutoSchema()

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DocsView(SpectacularRedocView):
    """ReDoc over the schema, left out of it, whatever the host's schema class."""

    schema = AutoSchema()

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
