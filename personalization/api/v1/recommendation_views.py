"""The recommendations endpoint: precomputed lists served from one cache read, re-ranked."""

from __future__ import annotations

import dataclasses

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ...context import build_visitor_context, versions_and_snapshot
from ...recommendations.serving import Filters, recommend
from ...visitors import user_facts
from . import recommendation_serializers as s
from .authentication import ApiKeyAuthentication, is_api_client
from .identity import resolve_visitor, usable_snapshot, visitor_token
from .schema import extend_schema
from .views import PersonalizationAPIView, _context_for

QUERY_PARAMETERS = frozenset(s.RecommendationsQuerySerializer().fields)


class RecommendationsView(PersonalizationAPIView):
    """Items for the calling visitor, with a reason each and a decision id for click attribution.

    The visitor comes from the signed ``X-Visitor-Id`` header, the visitor cookie or (API-key
    clients) a bare id in the header, exactly as for ``decide``. It is never read from the query
    string: tokens in URLs end up in logs and referrers, so ``visitor_id`` there is a 400.
    """

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]

    @extend_schema(
        parameters=[
            s.RecommendationsQuerySerializer,
            OpenApiParameter(
                "X-Visitor-Id",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="Signed visitor token (browsers may rely on the cookie instead).",
            ),
        ],
        responses={
            200: s.RecommendationsSerializer,
            400: OpenApiResponse(description="Invalid parameter; the error names it."),
        },
        summary="Recommendations for the calling visitor",
    )
    def get(self, request):
        query = request.query_params  # a visitor_id here is refused by initial() (logged URLs)
        raw = {k: query.get(k) for k in query if k != "page_type"}
        if "page_type" in query:
            raw["page_type"] = query.getlist("page_type")
        unknown = sorted(set(raw) - QUERY_PARAMETERS)
        if unknown:
            raise ValidationError({name: ["Unknown parameter."] for name in unknown})
        serializer = s.RecommendationsQuerySerializer(data=raw)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        visitor_id = resolve_visitor(request)
        # Versions and snapshot in one round trip; the snapshot also says whose profile the
        # token reaches (an account's needs its session: refused, or a stale cookie dropped).
        version_pair, snapshot = versions_and_snapshot(visitor_id)
        visitor_id, _ = usable_snapshot(request, visitor_id, snapshot=snapshot)
        authenticated, groups = (
            (False, frozenset()) if is_api_client(request) else user_facts(request._request)
        )
        visitor = build_visitor_context(
            visitor_id,
            _context_for(request, {}),
            version_pair=version_pair,
            snapshot=snapshot if visitor_id is not None else None,
            is_authenticated=authenticated,
            user_groups=groups,
        )
        result = recommend(
            visitor,
            limit=data["limit"],
            context_item=data.get("context_item"),
            placement=data["placement"],
            filters=Filters(
                page_types=tuple(data["page_type"]),
                locale=data["locale"],
                exclude_seen=data["exclude_seen"],
                diversity=data["diversity"],
            ),
        )
        return Response(
            {
                "decision_id": result.decision_id,
                "model_version": result.version_id,
                "source": result.source,
                "placement": result.placement,
                "visitor_token": visitor_token(visitor_id),
                "items": [
                    {**dataclasses.asdict(item), "reason": dataclasses.asdict(item.reason)}
                    for item in result.items
                ],
            }
        )
