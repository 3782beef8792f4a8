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

from django.apps import apps
from django.templatetags.static import static
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema as _extend_schema
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from ...registry import allowed_properties, event_types

__all__ = [
    "AutoSchema",
    "DocsView",
    "PersonalizationAutoSchema",
    "SchemaView",
    "TryItView",
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


_JSON_TYPES = {int: "integer", float: "number", str: "string", list: "array", bool: "boolean"}


def _property_schema(types: tuple[type, ...]) -> dict:
    names = sorted({_JSON_TYPES.get(t, "object") for t in types})
    if names == ["integer", "number"]:
        return {"type": "number"}
    if len(names) == 1:
        schema = {"type": names[0]}
        if names[0] == "array":
            schema["items"] = {"type": "string"}
        return schema
    return {"oneOf": [{"type": name} for name in names]}


def event_item_schema() -> dict:
    """One schema per registered event type (built-in and the host's), each naming its
    properties and which of them are required, discriminated by ``type``."""
    variants = []
    for name, event_type in sorted(event_types().items()):
        allowed = allowed_properties(event_type)
        properties = {
            "type": {"type": "string", "enum": [name]},
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "description": "Idempotency key: a repeated event is stored once.",
            },
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "Defaults to now.",
            },
            "properties": {
                "type": "object",
                "properties": {key: _property_schema(types) for key, types in allowed.items()},
                **({"required": sorted(event_type.required)} if event_type.required else {}),
            },
            "signature": {
                "type": "string",
                "description": "A server's signature (sign_event) letting a browser "
                "relay a trusted type.",
            },
        }
        variants.append(
            {
                "title": name,
                "type": "object",
                "description": event_type.description or f"An event of type {name}.",
                "properties": properties,
                "required": ["type", "properties"] if event_type.required else ["type"],
            }
        )
    return {"oneOf": variants}


class EventItemFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "personalization.api.v1.serializers.EventItemField"

    def map_serializer_field(self, auto_schema, direction):
        return event_item_schema()


class DocsView(SpectacularRedocView):
    """ReDoc over the schema, left out of it, whatever the host's schema class. Its page
    loads no fonts from a CDN (system fonts instead), so it works offline."""

    schema = AutoSchema()
    template_name = "personalization/api/redoc.html"

    @staticmethod
    def _redoc_standalone():
        if _sidecar():
            return static("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")
        return SpectacularRedocView._redoc_standalone()

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TryItView(SpectacularSwaggerSplitView):
    """Swagger UI with "Try it out", served from drf-spectacular-sidecar (no CDN), its script
    from this same URL, under a Content-Security-Policy that allows only this site."""

    schema = AutoSchema()
    CSP = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; font-src 'self'; frame-ancestors 'self'"
    )

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @staticmethod
    def _swagger_ui_resource(filename):
        if _sidecar():
            return static(f"drf_spectacular_sidecar/swagger-ui-dist/{filename}")
        return SpectacularSwaggerSplitView._swagger_ui_resource(filename)

    @staticmethod
    def _swagger_ui_favicon():
        if _sidecar():
            return static("drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png")
        return SpectacularSwaggerSplitView._swagger_ui_favicon()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = self.CSP
        return response


def _sidecar() -> bool:
    """Whether drf-spectacular-sidecar's assets are served by this site: then the docs use
    them whatever the ``*_DIST`` settings say, and ask no CDN."""
    return apps.is_installed("drf_spectacular_sidecar")
