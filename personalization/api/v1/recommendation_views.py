"""The recommendations endpoint: precomputed lists served from one cache read, re-ranked."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ...recommendations.serving import (
    Filters,
    RecommendedItem,
    cache_keys,
    is_known_site,
    reads_segments,
    recommend,
)
from . import recommendation_serializers as s
from .authentication import ApiKeyAuthentication
from .identity import api_visitor_context_and, request_context_for, resolve_visitor, visitor_token
from .recommendation_input import well_formed_recommendations_query
from .schema import extend_schema
from .views import PersonalizationAPIView

QUERY_PARAMETERS = frozenset(s.RecommendationsQuerySerializer().fields)


def validated_query(query) -> dict:
    """The query parameters, validated: unknown names are a 400; a plainly valid query is
    checked by hand (microseconds), anything else by the serializer, whose 400s and schema stay
    the contract."""
    raw = {k: query.get(k) for k in query if k != "page_type"}
    if "page_type" in query:
        raw["page_type"] = query.getlist("page_type")
    unknown = sorted(set(raw) - QUERY_PARAMETERS)
    if unknown:
        raise ValidationError({name: ["Unknown parameter."] for name in unknown})
    data = well_formed_recommendations_query(raw)
    if data is None:
        serializer = s.RecommendationsQuerySerializer(data=raw)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
    return data


def item_answer(item: RecommendedItem) -> dict:
    """An item as the API answers it (``RecommendedItemSerializer``), built directly:
    ``dataclasses.asdict`` deep-copies every field and cost 7% of a call."""
    reason = item.reason
    return {
        "id": item.id,
        "title": item.title,
        "url": item.url,
        "score": item.score,
        "reason": {"code": reason.code, "text": reason.text, "item_id": reason.item_id},
        "page_type": item.page_type,
    }


class RecommendationsView(PersonalizationAPIView):
    """Items for the calling visitor, with a reason each and a decision id for click attribution.

    The visitor comes from the signed ``X-Visitor-Id`` header, the visitor cookie or (API-key
    clients) a bare id in the header, exactly as for ``decide``. It is never read from the query
    string: tokens in URLs end up in logs and referrers, so ``visitor_id`` there is a 400.
    """

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    limits_counted_on_read = True

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
        # A visitor_id in the query is refused by initial() (URLs are logged).
        data = validated_query(request.query_params)
        # The stored lists are read in the same cache round trip as versions and snapshot.
        visitor_id = resolve_visitor(request)
        visitor, found = api_visitor_context_and(
            request,
            visitor_id,
            request_context_for(request, {}),
            cache_keys(visitor_id, data.get("context_item")),
            reads_segments=reads_segments,
        )
        visitor_id = visitor.visitor_id
        if data["site"] is not None and not is_known_site(data["site"], visitor):
            raise ValidationError({"site": [f"Unknown site id {data['site']}."]})
        result = recommend(
            visitor,
            limit=data["limit"],
            context_item=data.get("context_item"),
            placement=data["placement"],
            filters=Filters(
                page_types=tuple(data["page_type"]),
                locale=data["locale"],
                site_id=data["site"],
                exclude_seen=data["exclude_seen"],
                diversity=data["diversity"],
            ),
            found=found,
        )
        return Response(
            {
                "decision_id": result.decision_id,
                "model_version": result.version_id,
                "source": result.source,
                "placement": result.placement,
                "visitor_token": visitor_token(visitor_id),
                "items": [item_answer(item) for item in result.items],
            }
        )
