"""OpenAPI generation for our views: every error an operation can answer is documented.

Each view inherits ``PersonalizationAutoSchema`` from ``PersonalizationAPIView``, so a new
operation documents its 400 (names the field), 401/403 (by its authentication), 413 (bodies) and
429 (throttles) without repeating them, and ``visitor_id`` path parameters are UUIDs.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

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
