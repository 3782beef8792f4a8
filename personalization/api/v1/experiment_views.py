"""Experiment results for analysts: server clients with a secret key, or staff with the perm."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
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
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The results."),
            403: OpenApiResponse(description="Not a server client or analyst."),
            404: OpenApiResponse(description="No such experiment."),
        },
        summary="Results of an experiment",
    )
    def get(self, request, experiment_id: int):
        in_range = 0 < experiment_id < 2**63  # past a bigint: no such row, not a database error
        experiment = Experiment.objects.filter(pk=experiment_id).first() if in_range else None
        if experiment is None:
            raise NotFound("No experiment with this id.")
        return Response(experiment_results(experiment))
