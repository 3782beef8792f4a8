"""OpenAPI generation for our views, whatever the host's DRF defaults say.

Every error an operation can answer is documented: each view inherits
``PersonalizationAutoSchema`` from ``PersonalizationAPIView``, so a new operation documents its 400
(names the field), 401/403 (by its authentication), 413 (bodies) and 429 (throttles) without
repeating them, and ``visitor_id`` path parameters are UUIDs.

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

__all__ = [
    "AutoSchema",
    "DocsView",
    "PersonalizationAutoSchema",
    "SchemaView",
    "extend_schema",
]

ERROR_SCHEMA = {
    "type": "object",
    "description": "Field name (or 'detail') to a message or a list of messages.",
    "additionalProperties": True,
}


class PersonalizationAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        view = self.view
        errors = {
            "400": "Invalid input: the body names each bad field.",
            "403": "Not allowed: not this visitor, no permission, or no CSRF token.",
            "429": "Rate limited; retry after the Retry-After header's seconds.",
        }
        if any(
            getattr(cls, "authenticate_header", None)
            and cls.authenticate_header(cls(), None) is not None
            for cls in getattr(view, "authentication_classes", [])
        ):
            errors["401"] = "Unknown API key."
        if self.method in ("POST", "PUT", "PATCH"):
            errors["413"] = "Body larger than PERSONALIZATION_MAX_BODY_BYTES."
            errors["415"] = "Body not sent as application/json."
        for code, description in errors.items():
            responses.setdefault(
                code,
                {
                    "content": {"application/json": {"schema": ERROR_SCHEMA}},
                    "description": description,
                },
            )
        return responses

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["name"] == "visitor_id":
                parameter["schema"] = {"type": "string", "format": "uuid"}
                parameter["description"] = "The visitor's id (a UUID)."
        return parameters


def extend_schema(*args, **kwargs):
    decorate = _extend_schema(*args, **kwargs)

    def decorator(f):
        if not inspect.isclass(f) and not getattr(f, "kwargs", {}).get("schema"):
            f.schema = PersonalizationAutoSchema  # the base extend_schema builds on
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
