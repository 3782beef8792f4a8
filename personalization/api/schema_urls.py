"""The URL layout the OpenAPI schema describes: the API at its documented mount point."""

from django.urls import include, path

urlpatterns = [path("api/personalization/v1/", include("personalization.api.v1.urls"))]
