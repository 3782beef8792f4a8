"""Mount with ``path("api/personalization/", include("personalization.api.urls"))``."""

from django.urls import include, path

app_name = "personalization_api"

urlpatterns = [path("v1/", include("personalization.api.v1.urls"))]
