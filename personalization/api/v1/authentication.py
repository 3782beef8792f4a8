"""Who is calling: a server with an API key, a staff member with a session, or a browser.

Browsers are not authenticated users; they identify as visitors with a signed token, which
``identity.py`` reads. Server clients send ``Authorization: Api-Key <secret>`` and may act for
any visitor id.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from ...conf import get_setting


@dataclass(frozen=True)
class ApiClient:
    name: str


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(self.keyword + " "):
            return None
        secret = header[len(self.keyword) + 1 :].strip()
        for name, expected in get_setting("API_KEYS").items():
            if expected and hmac.compare_digest(secret.encode(), str(expected).encode()):
                return AnonymousUser(), ApiClient(name)
        if not get_setting("API_KEYS"):
            raise exceptions.AuthenticationFailed(
                "Unknown API key: this site has none. Keys are set on the Django side in "
                'PERSONALIZATION_API_KEYS = {"<client name>": "<secret>"}.'
            )
        raise exceptions.AuthenticationFailed(
            "Unknown API key. The secret must equal a value of the site's "
            "PERSONALIZATION_API_KEYS setting."
        )

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <secret>`, for server-to-server clients.",
        }


def is_api_client(request) -> bool:
    return isinstance(getattr(request, "auth", None), ApiClient)
