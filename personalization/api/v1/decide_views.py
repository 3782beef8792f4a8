"""The decide endpoint: which variant of each placement a headless frontend should show."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode, urlsplit, urlunsplit

from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ...decisions import decide, record_shown
from ...types import RequestContext
from ...variants.services import api_representation, snippet_definitions
from . import serializers as s
from .authentication import ApiKeyAuthentication
from .decide_input import well_formed_decide_body
from .identity import (
    api_visitor_context,
    request_context_for,
    resolve_visitor,
    timezone_param,
    visitor_token,
)
from .schema import extend_schema
from .views import PersonalizationAPIView


def _with_query(context: RequestContext, query: dict[str, str]) -> RequestContext:
    if not query:
        return context
    parts = urlsplit(context.url or "/")
    extra = urlencode(query)
    merged = f"{parts.query}&{extra}" if parts.query else extra
    return dataclasses.replace(context, url=urlunsplit(parts._replace(query=merged))[:2000])


class DecideView(PersonalizationAPIView):
    """Variants for the placements of one page view, decided like a server-rendered page would.

    Nothing is cached downstream (``private, no-store``); impressions are recorded in one write,
    and only for visitors whose consent lets us keep analytics.
    """

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    limits_counted_on_read = True

    @extend_schema(
        request=s.DecideRequestSerializer,
        responses={
            200: s.DecideResultSerializer,
            400: OpenApiResponse(description="Invalid body; the error names the field."),
        },
        summary="Choose the variant of each placement for a visitor",
    )
    def post(self, request):
        # A plainly valid body is checked by hand (microseconds); anything else, every bad body
        # included, goes to the serializer, whose 400s and schema stay the contract.
        data = well_formed_decide_body(request.data)
        if data is None:
            data = self.validated(s.DecideRequestSerializer)
        body_context = data.get("context", {})
        timezone_name = timezone_param(body_context.get("timezone", ""))
        context = _with_query(
            request_context_for(request, body_context), body_context.get("query", {})
        )
        visitor = api_visitor_context(
            request,
            resolve_visitor(request, data.get("visitor_id")),
            context,
            timezone_name=timezone_name,
        )
        visitor_id = visitor.visitor_id
        content_version = visitor.versions[1]
        placements = list(dict.fromkeys(data["placements"]))
        known = snippet_definitions(content_version)
        unknown = {
            i: ["No personalized content with this slug."]
            for i, slug in enumerate(data["placements"])
            if slug not in known
        }
        if unknown:
            raise ValidationError({"placements": unknown})
        decisions = decide(placements, visitor, content_version=content_version)
        record_shown(visitor, decisions)
        answer = {}
        for decision in decisions:
            content = decision.content
            item = {
                "decision_id": decision.decision_id,
                "variant": decision.choice.variant_id,
                "variant_name": decision.choice.rule.name if decision.choice.rule else "",
                "segments": [r for r in decision.choice.reason if r != "experiment"],
                "experiment": (
                    {
                        "id": decision.assignment.experiment,
                        "arm": decision.assignment.arm,
                        "propensity": decision.assignment.propensity,
                        "policy_version": decision.assignment.policy_version,
                    }
                    if decision.assignment
                    else None
                ),
                "content": api_representation(content, request),
            }
            if data["include_html"]:
                item["html"] = (
                    content.render_as_block({"request": request._request}) if content else ""
                )
            answer[decision.placement] = item
        return Response(
            {
                "visitor_token": visitor_token(visitor_id),
                "segments": list(visitor.segments),
                "segment_key": visitor.key,
                "placements": answer,
            }
        )
