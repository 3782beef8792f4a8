"""Query parameters and answers of the recommendations endpoint."""

from __future__ import annotations

from rest_framework import serializers

from ...conf import get_setting

ITEM_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
PAGE_TYPE = r"^[a-z0-9_]+\.[a-z0-9_]+$"
LOCALE = r"^[A-Za-z0-9-]{2,20}$"
PAGE_TYPES_MAX = 20
PLACEMENT_MAX = 80


class RecommendationsQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, default=6, help_text="How many items (1-50).")
    context_item = serializers.RegexField(
        ITEM_ID, required=False, help_text="The item being looked at (a page id): 'more like this'."
    )
    placement = serializers.SlugField(
        max_length=PLACEMENT_MAX,
        required=False,
        default="",
        help_text="Where the list is shown (for CTR).",
    )
    page_type = serializers.ListField(
        child=serializers.RegexField(PAGE_TYPE),
        required=False,
        default=list,
        max_length=PAGE_TYPES_MAX,
        help_text="Only these page types (app_label.model); repeat the parameter for several.",
    )
    locale = serializers.RegexField(LOCALE, required=False, default="")
    site = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Only pages of this Wagtail site (its id); all sites when left out.",
    )
    exclude_seen = serializers.BooleanField(required=False, allow_null=True, default=None)
    diversity = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        required=False,
        allow_null=True,
        default=None,
        help_text="MMR lambda: 1 is pure relevance, lower is more diverse.",
    )

    def validate_limit(self, value):
        limit = get_setting("RECOMMENDATIONS_MAX_LIMIT")
        if value > limit:
            raise serializers.ValidationError(f"At most {limit}.")
        return value


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="because_you_viewed, similar_to, popular_in_segment, popular"
    )
    text = serializers.CharField()
    item_id = serializers.CharField(allow_blank=True)


class RecommendedItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()
    page_type = serializers.CharField()
    score = serializers.FloatField()
    reason = ReasonSerializer()


class RecommendationsSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField(
        help_text="Send it with click events (properties.decision_id) for CTR."
    )
    model_version = serializers.IntegerField(allow_null=True)
    source = serializers.CharField(
        help_text="precomputed, on_the_fly, similar, popular or none (no trained model yet)."
    )
    placement = serializers.CharField(allow_blank=True)
    visitor_token = serializers.CharField(allow_null=True)
    items = RecommendedItemSerializer(many=True)
