from django.urls import path

from . import (
    decide_views,
    experiment_views,
    reach_views,
    recommendation_views,
    segment_views,
    views,
)
from .schema import DocsView, SchemaView, TryItView

urlpatterns = [
    path("events", views.EventsView.as_view(), name="events"),
    path("consent", views.ConsentView.as_view(), name="consent"),
    path("profile", views.ProfileView.as_view(), name="profile"),
    path("visitors/<str:visitor_id>", views.VisitorView.as_view(), name="visitor"),
    path("visitors/<str:visitor_id>/export", views.VisitorExportView.as_view(), name="export"),
    path("visitors/<str:visitor_id>/traits", views.VisitorTraitsView.as_view(), name="traits"),
    path("decide", decide_views.DecideView.as_view(), name="decide"),
    path(
        "recommendations",
        recommendation_views.RecommendationsView.as_view(),
        name="recommendations",
    ),
    path("segments", segment_views.SegmentListView.as_view(), name="segments"),
    path("segments/estimate", segment_views.SegmentEstimateView.as_view(), name="segment-estimate"),
    path(
        "experiments/<str:experiment_id>/results",
        experiment_views.ExperimentResultsView.as_view(),
        name="experiment-results",
    ),
    path("variants/reach", reach_views.VariantReachView.as_view(), name="variant-reach"),
    path(
        "visitors/<str:visitor_id>/segments",
        segment_views.VisitorSegmentsView.as_view(),
        name="visitor-segments",
    ),
    path(
        "schema",
        SchemaView.as_view(urlconf="personalization.api.schema_urls"),
        name="schema",
    ),
    path("docs", DocsView.as_view(url_name="personalization_api:schema"), name="docs"),
    path("docs/try", TryItView.as_view(url_name="personalization_api:schema"), name="docs-try"),
]
