"""The demo site's URLs plus ``bench/discard``: a baseline that parses a body and drops it."""

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


# Before the site's patterns, which end with Wagtail's catch-all.
urlpatterns = [path("bench/discard", DiscardView.as_view()), *site]
