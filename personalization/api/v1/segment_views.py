"""Segment endpoints: definitions for headless frontends, a visitor's segments, size estimates."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from ...profiles.snapshot import get_snapshot
from ...segments.base import ConditionError
from ...segments.estimates import describe, estimate
from ...segments.registry import condition_types
from ...segments.services import compiled_segments, estimate_size, visitor_segments
from ...segments.tree import compile_rules
from ...segments.vocabularies import rule_warnings
from ...types import RequestContext
from ...visitors import request_context, user_facts, visitor_timezone
from . import serializers as s
from .authentication import ApiKeyAuthentication, is_api_client
from .identity import timezone_param
from .permissions import IsVisitorOrAllowed
from .schema import extend_schema
from .views import PersonalizationAPIView

CONTEXT_PARAMS = ["user_agent", "url", "referrer", "language", "country", "region", "timezone"]


class SegmentListView(PersonalizationAPIView):
    """Enabled segments, so a headless frontend can show what exists (no member data)."""

    @extend_schema(responses=s.SegmentSerializer(many=True), summary="Enabled segments")
    def get(self, request):
        from ...segments.models import Segment

        by_id = {seg.pk: seg for seg in Segment.objects.filter(status=Segment.Status.ENABLED)}
        return Response(
            [
                {
                    "slug": c.slug,
                    "name": c.name,
                    "description": by_id[c.id].description if c.id in by_id else "",
                    "priority": c.priority,
                    "kind": c.kind,
                    "rules": by_id[c.id].rules if c.id in by_id else {},
                    "conditions": c.stored,
                }
                for c in sorted(compiled_segments(), key=lambda c: (-c.priority, c.slug))
            ]
        )


class VisitorSegmentsView(PersonalizationAPIView):
    """The segments a visitor is in for this request: for the visitor, or a server (API key)
    relaying the visitor's request context in query parameters."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsVisitorOrAllowed]
    required_perm = "personalization.view_segment"

    @extend_schema(
        parameters=[OpenApiParameter(name, str, required=False) for name in CONTEXT_PARAMS],
        responses=s.VisitorSegmentsSerializer,
        summary="A visitor's current segments",
    )
    def get(self, request, visitor_id):
        visitor_id = self.kwargs["visitor_id"]  # parsed in initial()
        query = request.query_params
        if is_api_client(request):
            country = query.get("country", "")
            if country and (len(country) != 2 or not country.isalpha()):
                raise ValidationError({"country": ["A two-letter country code."]})
            context = RequestContext.from_user_agent(
                query.get("user_agent", "")[:512],
                url=query.get("url", "")[:2000],
                referrer=query.get("referrer", "")[:2000],
                language=query.get("language", "")[:35].lower(),
                country=country.upper(),
                region=query.get("region", "")[:16].upper(),
            )
            authenticated, groups = False, frozenset()
        else:
            context = request_context(request._request)
            authenticated, groups = user_facts(request._request)
        segments = visitor_segments(
            visitor_id,
            request=context,
            timezone_name=timezone_param(query.get("timezone", ""))
            or ("" if is_api_client(request) else visitor_timezone(request._request)),
            is_authenticated=authenticated,
            user_groups=groups,
        )
        return Response({"visitor_id": get_snapshot(visitor_id).visitor_id, "segments": segments})


class CanEditSegments(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm("personalization.change_segment"))


class SegmentEstimateView(PersonalizationAPIView):
    """How many stored profiles a rule tree could hold, before saving it (editors)."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [CanEditSegments]

    @extend_schema(
        request=s.RulesSerializer,
        responses=s.EstimateSerializer,
        summary="Estimate a segment's size",
    )
    def post(self, request):
        data = self.validated(s.RulesSerializer)
        try:
            size = estimate_size(data["rules"])
            node = compile_rules(data["rules"])
        except ConditionError as exc:
            raise ValidationError({f"rules.{exc.path}".rstrip("."): [exc.message]}) from None
        result = estimate(node, size)
        labels = {name: str(kind.label) for name, kind in condition_types().items()}
        return Response(
            {
                "size": size,
                "estimated": result["estimated"],
                "request_share": None if result["share"] is None else round(result["share"], 4),
                "request_types": result["request_types"],
                "text": describe(result, labels),
                "warnings": rule_warnings(data["rules"]),
            }
        )
