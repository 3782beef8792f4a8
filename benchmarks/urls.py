"""The demo site's URLs plus the baselines: ``bench/discard``, ``bench/constant``,
``bench/constant-recommendations`` and ``bench/floor-recommendations``."""

from django.urls import path
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from cms_site.urls import urlpatterns as site


class DiscardView(APIView):
    """Accepts and discards the same body as the events endpoint: DRF and JSON parsing only."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def post(self, request):
        data = request.data
        events = data.get("events", []) if isinstance(data, dict) else []
        return Response({"accepted": len(events)}, status=status.HTTP_202_ACCEPTED)


def _placement(n: int) -> dict:
    """One placement shaped like a decide answer's (a variant of heading, paragraph and CTA)."""
    return {
        "decision_id": f"0b6f3c2e-5d4a-4f7e-9a1b-{n:012d}",
        "variant": f"4e1d2c3b-8a9f-4b6c-a7d5-{n:012d}",
        "variant_name": f"Placement {n}, variant 1",
        "segments": ["s07"],
        "content": [
            {
                "type": "heading",
                "value": f"Placement {n}: an offer picked for you",
                "id": "9d2f6c1a-3b4e-4d5f-8a6b-7c8d9e0f1a2b",
            },
            {
                "type": "paragraph",
                "value": "<p>Personalized copy for this segment, a sentence or two long, "
                "with the same markup an editor would write in the rich text field.</p>",
                "id": "1e2d3c4b-5a69-4788-97a6-b5c4d3e2f1a0",
            },
            {
                "type": "call_to_action",
                "value": {"text": "See the offer", "link": "/offers/", "style": "primary"},
                "id": "f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f",
            },
        ],
    }


CONSTANT_ANSWER = {
    "visitor_token": "8c6d0e5bf1a64f2d9b3e7a1c0d2e4f60:" + "x" * 43,
    "segments": ["s00", "s05", "s07", "s12", "s15", "s20", "s22", "s25", "s30"],
    "segment_key": "1a2b3c4d.0123456789abcdef",
    "placements": {f"placement-{n}": _placement(n) for n in range(1, 6)},
}


class ConstantView(APIView):
    """Parses the body and answers a fixed dict about the size of a decide answer: the HTTP,
    WSGI, Django, DRF and JSON work of the decide endpoint without any deciding."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def post(self, request):
        request.data  # noqa: B018 - parse the body, as decide does
        return Response(CONSTANT_ANSWER)


RECOMMENDATIONS_ANSWER = {
    "decision_id": "0b6f3c2e-5d4a-4f7e-9a1b-000000000001",
    "model_version": 3,
    "source": "precomputed",
    "placement": "home",
    "visitor_token": "8c6d0e5bf1a64f2d9b3e7a1c0d2e4f60:" + "x" * 43,
    "items": [
        {
            "id": str(100 + n),
            "title": f"An article title of ordinary length, number {n}",
            "url": f"/articles/an-article-title-of-ordinary-length-{n}/",
            "page_type": "demo.articlepage",
            "score": 0.91234 - n / 100,
            "reason": {
                "code": "because_you_viewed",
                "text": "Because you viewed “Another article title of ordinary length”",
                "item_id": "42",
            },
        }
        for n in range(6)
    ],
}


class ConstantRecommendationsView(APIView):
    """GET answering a fixed dict the size of a six-item recommendations answer."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        return Response(RECOMMENDATIONS_ANSWER)


class FloorRecommendationsView(APIView):
    """The least any recommendations endpoint must do before it answers: verify the visitor's
    signed token and read their snapshot (consent, account) and stored list in one cache round
    trip. It then answers the constant dict without looking at what it read: the recommendations
    endpoint can come no closer to the constant one than this view does."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        from personalization.profiles.identity import parse_visitor_token
        from personalization.profiles.snapshot import snapshot_key
        from personalization.recommendations.serving import visitor_key
        from personalization.visitor_cache import read_many

        visitor_id = parse_visitor_token(request.headers.get("X-Visitor-Id", ""))
        if visitor_id is not None:
            read_many([snapshot_key(visitor_id), visitor_key(visitor_id)])
        return Response(RECOMMENDATIONS_ANSWER)


# Before the site's patterns, which end with Wagtail's catch-all.
urlpatterns = [
    path("bench/discard", DiscardView.as_view()),
    path("bench/constant", ConstantView.as_view()),
    path("bench/constant-recommendations", ConstantRecommendationsView.as_view()),
    path("bench/floor-recommendations", FloorRecommendationsView.as_view()),
    *site,
]
