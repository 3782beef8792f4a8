"""Wagtail's pages API (v2) with personalized blocks placed: ``PagesAPIViewSet`` to register
instead of Wagtail's, so an experiment on a page's ``PersonalizedBlock`` decides the block in
the API as it does on the rendered page::

    from personalization.api.pages import PagesAPIViewSet
    api_router.register_endpoint("pages", PagesAPIViewSet)

Wagtail's stream serializer gives blocks neither the page nor their own id; this one passes
both, under the keys a page's template context has them (``page`` and ``id``). The output is
Wagtail's, block for block.
"""

from __future__ import annotations

from wagtail.api.v2 import serializers as wagtail_serializers
from wagtail.api.v2 import views as wagtail_views
from wagtail.fields import StreamField as StreamModelField


class _PageStream:
    """A page's stream value and the page, handed from ``get_attribute`` to the field."""

    __slots__ = ("page", "value")

    def __init__(self, page, value):
        self.page, self.value = page, value


class PlacedStreamField(wagtail_serializers.StreamField):
    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        return None if value is None else _PageStream(instance, value)

    def to_representation(self, value):
        if not isinstance(value, _PageStream):
            return super().to_representation(value)
        stream = value.value
        if stream is None:
            return []
        base = {**self.context, "page": value.page}
        return [
            {
                "type": child.block.name,
                "value": child.block.get_api_representation(child.value, {**base, "id": child.id}),
                "id": child.id,
            }
            for child in stream
        ]


class PlacedPageSerializer(wagtail_serializers.PageSerializer):
    serializer_field_mapping = {
        **wagtail_serializers.PageSerializer.serializer_field_mapping,
        StreamModelField: PlacedStreamField,
    }


class PagesAPIViewSet(wagtail_views.PagesAPIViewSet):
    base_serializer_class = PlacedPageSerializer
