"""Experiment results for analysts: server clients with a secret key, or staff with the perm."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from ...experiments.models import Experiment
from ...experiments.results import experiment_results
from .authentication import ApiKeyAuthentication, is_api_client
from .schema import extend_schema
from .views import PersonalizationAPIView


class IsAnalyst(BasePermission):
    message = "Only a server client (secret API key) or an analyst may read results."

    def has_permission(self, request, view) -> bool:
        if is_api_client(request):
            return True
        user = request.user
        return bool(user and user.has_perm("personalization.view_experiment"))


class ExperimentResultsView(PersonalizationAPIView):
    """Exposures, conversions, rates with intervals, lift, p-values (Holm-adjusted and
    always-valid), probability to beat control, revenue (Welch), the sample ratio check, the
    daily series and, for bandits, the current allocation."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsAnalyst]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "experiment_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Its id."
            )
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The results."),
            403: OpenApiResponse(description="Not a server client or analyst."),
            404: OpenApiResponse(description="No such experiment."),
        },
        summary="Results of an experiment",
    )
    def get(self, request, experiment_id: str):
        # Matched as text so a malformed id is a 400 naming it, as every input is, not a 404.
        if not experiment_id.isascii() or not experiment_id.isdigit():
            raise ValidationError({"experiment_id": ["Not an experiment id (a positive integer)."]})
        experiment_id = int(experiment_id)
        in_range = 0 < experiment_id < 2**63  # past a bigint: no such row, not a database error
        experiment = Experiment.objects.filter(pk=experiment_id).first() if in_range else None
        if experiment is None:
            raise NotFound("No experiment with this id.")
        return Response(experiment_results(experiment))
