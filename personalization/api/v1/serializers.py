"""Request and response shapes; they validate at the edge and document the OpenAPI schema."""

from __future__ import annotations

import functools
import re

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ...conf import get_setting
from ...consent.purposes import DESCRIPTIONS, PURPOSES


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only: DRF's own also takes 0, 1, "yes" and "on", which the
    schema (``type: boolean``) does not allow."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


@extend_schema_field(
    {
        "type": "object",
        "properties": {purpose: {"type": "boolean"} for purpose in PURPOSES},
        "additionalProperties": False,
        "minProperties": 1,
    }
)
class PurposesField(serializers.DictField):
    """At least one known purpose, each granted (true) or refused (false)."""

    def __init__(self, **kwargs):
        super().__init__(child=StrictBooleanField(), allow_empty=False, **kwargs)


class EventSerializer(serializers.Serializer):
    """Documents one event; each item is validated on its own by ``validate_events``."""

    type = serializers.CharField(
        help_text="page_view, content_view, click, search, ... Browsers may send only the "
        "types in PERSONALIZATION_BROWSER_EVENT_TYPES; others (purchase, signup) need an API "
        "key or a server signature."
    )
    id = serializers.CharField(required=False, help_text="Idempotency key, 1-64 characters.")
    timestamp = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    properties = serializers.DictField(required=False)
    signature = serializers.CharField(
        required=False,
        help_text="A server's signature (sign_event) letting a browser relay a trusted type.",
    )


class ClientContextSerializer(serializers.Serializer):
    """What the browser saw. User agent, country, region and privacy signals are taken from the
    body only for API-key clients relaying a visitor's request; browsers' own headers win."""

    url = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    referrer = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    user_agent = serializers.CharField(required=False, allow_blank=True, max_length=512)
    language = serializers.CharField(required=False, allow_blank=True, max_length=35)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)
    region = serializers.CharField(required=False, allow_blank=True, max_length=16)
    dnt = StrictBooleanField(required=False)
    gpc = StrictBooleanField(required=False)


class EventItemField(serializers.JSONField):
    """One event, validated on its own by ``validate_events`` (a bad one does not fail the
    batch). Documented as one schema per registered event type (``schema.py``), so the docs
    list each type's properties, including types a host registers."""


class EventBatchSerializer(serializers.Serializer):
    visitor_id = serializers.CharField(
        required=False, help_text="Signed visitor token (or X-Visitor-Id header, or cookie)."
    )
    events = serializers.ListField(child=EventItemField(), allow_empty=False, min_length=1)
    context = ClientContextSerializer(required=False)

    def validate_events(self, value):
        limit = get_setting("MAX_BATCH_SIZE")
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit} events per batch.")
        return value


_BATCH_FIELDS = ("visitor_id", "events", "context")


@functools.cache
def _context_rules() -> dict[str, tuple[type, int | None, re.Pattern | None]]:
    """Per context field of ``ClientContextSerializer``: (type, max length, pattern), read from
    the serializer's own fields so the fast path below cannot drift from it."""
    rules = {}
    for name, f in ClientContextSerializer().fields.items():
        if isinstance(f, StrictBooleanField):
            rules[name] = (bool, None, None)
        elif type(f) in (serializers.CharField, serializers.RegexField) and f.allow_blank:
            patterns = [v.regex for v in f.validators if isinstance(v, RegexValidator)]
            rules[name] = (str, f.max_length, patterns[0] if patterns else None)
    return rules


def plain_event_batch(data) -> dict | None:
    """``EventBatchSerializer``'s validated data for a batch that needs none of its work, in
    microseconds; None for anything else (then the serializer runs and gives its own answer).

    A plain batch is a JSON object whose ``events`` is a list of 1 to ``MAX_BATCH_SIZE`` objects
    (each is then checked by ``validate_events``), whose ``visitor_id`` is absent or a non-blank
    string without surrounding spaces, and whose ``context`` is absent or an object whose known
    fields hold what the serializer would keep unchanged. The serializer's per-item ``JSONField``
    (a ``json.dumps`` of each event) and deep copies cost ~5 us per event for the same result.
    """
    if type(data) is not dict:
        return None
    events = data.get("events")
    if type(events) is not list or not 1 <= len(events) <= get_setting("MAX_BATCH_SIZE"):
        return None
    for event in events:
        if type(event) is not dict:
            return None
    out = {"events": events}
    if "visitor_id" in data:
        visitor_id = data["visitor_id"]
        if type(visitor_id) is not str or not visitor_id or visitor_id != visitor_id.strip():
            return None
        out["visitor_id"] = visitor_id
    if "context" in data:
        context = data["context"]
        if type(context) is not dict:
            return None
        rules = _context_rules()
        kept = {}
        for name, value in context.items():
            rule = rules.get(name)
            if rule is None:
                if name in ClientContextSerializer._declared_fields:
                    return None  # a field this path does not know how to check
                continue  # unknown fields are dropped, as the serializer does
            kind, max_length, pattern = rule
            if type(value) is not kind:
                return None
            if kind is str and (
                value != value.strip()
                or (max_length is not None and len(value) > max_length)
                or (pattern is not None and value and not pattern.search(value))
            ):
                return None
            kept[name] = value
        out["context"] = kept
    return out


class EventErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class ConversionOutcomeSerializer(serializers.Serializer):
    experiment = serializers.IntegerField()
    goal = serializers.IntegerField()
    counted = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)


class IngestResultSerializer(serializers.Serializer):
    visitor_token = serializers.CharField(allow_null=True)
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    ignored = serializers.IntegerField()
    ignored_reason = serializers.CharField(allow_blank=True)
    errors = EventErrorSerializer(many=True)
    conversions = ConversionOutcomeSerializer(
        many=True,
        required=False,
        help_text="Experiment goals these events reached, or why one was not counted "
        "(experiment_paused, experiment_completed, before_exposure, already_counted).",
    )


class ConsentUpdateSerializer(serializers.Serializer):
    visitor_id = serializers.CharField(required=False)
    purposes = PurposesField()

    def validate_purposes(self, value):
        unknown = sorted(set(value) - set(PURPOSES))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown purpose(s): {', '.join(unknown)}. Known: {', '.join(PURPOSES)}."
            )
        return value


class PurposeStateSerializer(serializers.Serializer):
    granted = serializers.BooleanField()
    source = serializers.ChoiceField(choices=["default", "explicit", "signal"])
    updated_at = serializers.DateTimeField(allow_null=True)


ConsentPurposesSerializer = type(
    "ConsentPurposesSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Each purpose by name, with what it allows.",
        **{
            purpose: PurposeStateSerializer(help_text=DESCRIPTIONS[purpose]) for purpose in PURPOSES
        },
    },
)


class ConsentStateSerializer(serializers.Serializer):
    visitor_token = serializers.CharField(allow_null=True)
    purposes = ConsentPurposesSerializer()


class TraitsSerializer(serializers.Serializer):
    traits = serializers.DictField()
    require_consent = StrictBooleanField(
        default=True,
        help_text="False only where the site has another legal basis (e.g. a contract).",
    )


class TraitsResultSerializer(serializers.Serializer):
    visitor_id = serializers.UUIDField()
    traits = serializers.DictField()


class ProfileSerializer(serializers.Serializer):
    visitor_id = serializers.UUIDField()
    exists = serializers.BooleanField()
    first_seen = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    visit_count = serializers.IntegerField()
    event_count = serializers.IntegerField()
    device_type = serializers.CharField()
    os = serializers.CharField()
    browser = serializers.CharField()
    country = serializers.CharField()
    region = serializers.CharField()
    language = serializers.CharField()
    first_referrer = serializers.CharField()
    latest_referrer = serializers.CharField()
    first_utm = serializers.DictField()
    latest_utm = serializers.DictField()
    traits = serializers.DictField()
    rfm = serializers.DictField()
    predicted_scores = serializers.DictField()
    persona = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())


class ErasureResultSerializer(serializers.Serializer):
    erased = serializers.DictField(child=serializers.IntegerField())


class SegmentSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    priority = serializers.IntegerField()
    kind = serializers.CharField()
    rules = serializers.JSONField()
    conditions = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Condition types stored as membership ('profile') and checked per request "
        "('request').",
    )


class VisitorSegmentsSerializer(serializers.Serializer):
    visitor_id = serializers.UUIDField()
    segments = serializers.ListField(child=serializers.SlugField())


class RulesSerializer(serializers.Serializer):
    rules = serializers.JSONField()


class RuleWarningSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Where in the rules, e.g. all[0].params.event.")
    message = serializers.CharField()


class EstimateSerializer(serializers.Serializer):
    size = serializers.IntegerField(
        help_text="Stored profiles matching the profile part (what membership would hold)."
    )
    estimated = serializers.IntegerField(
        help_text="``size`` times ``request_share``: visitors matching on a given request."
    )
    request_share = serializers.FloatField(
        allow_null=True,
        help_text="Share of recent page views (last 7 days, newest 2,000) passing the per-request "
        "conditions; null when there are none or no recent traffic.",
    )
    request_types = serializers.ListField(
        child=serializers.CharField(), help_text="Condition types checked per request."
    )
    text = serializers.CharField(help_text="The same, in one sentence for editors.")
    warnings = RuleWarningSerializer(
        many=True,
        help_text="Values not among what exists (an unregistered event type, an unknown page "
        "type): the rules are valid, but these parts match nobody.",
    )


class DecideContextSerializer(ClientContextSerializer):
    timezone = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="IANA name, e.g. Europe/Paris."
    )
    query = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        required=False,
        help_text="The page's query parameters (e.g. UTM tags), if not already in url.",
    )


class DecideRequestSerializer(serializers.Serializer):
    visitor_id = serializers.CharField(
        required=False, allow_blank=True, help_text="The visitor token (or send X-Visitor-Id)."
    )
    context = DecideContextSerializer(required=False)
    placements = serializers.ListField(
        child=serializers.SlugField(max_length=80),
        min_length=1,
        max_length=50,
        help_text="Slugs of personalized content wanted on this page.",
    )
    include_html = StrictBooleanField(
        default=False, help_text="Also render each chosen variant to HTML."
    )


class ExperimentArmSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The experiment's id.")
    arm = serializers.CharField(help_text="The arm's key, or 'holdout'.")
    propensity = serializers.FloatField(help_text="The probability the policy gave this arm.")
    policy_version = serializers.IntegerField()


class PlacementDecisionSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField(
        help_text="Send it with click/conversion events (properties.decision_id)."
    )
    variant = serializers.CharField(allow_null=True, help_text="Null when the default is shown.")
    variant_name = serializers.CharField(allow_blank=True)
    segments = serializers.ListField(
        child=serializers.CharField(), help_text="The segments that chose this variant."
    )
    experiment = ExperimentArmSerializer(
        allow_null=True, help_text="The experiment and arm that chose this variant, if any."
    )
    content = serializers.ListField(
        child=serializers.DictField(), help_text="StreamField blocks, as Wagtail's API shows them."
    )
    html = serializers.CharField(required=False, help_text="With include_html only.")


class DecideResultSerializer(serializers.Serializer):
    visitor_token = serializers.CharField(allow_null=True)
    segments = serializers.ListField(child=serializers.CharField())
    segment_key = serializers.CharField(
        help_text="Compact key for caches: the same for every visitor in the same segments."
    )
    placements = serializers.DictField(child=PlacementDecisionSerializer())


class ReachVariantSerializer(serializers.Serializer):
    segments = serializers.ListField(
        child=serializers.SlugField(max_length=80),
        required=False,
        default=list,
        max_length=100,
        help_text="Segment slugs; empty means everyone.",
    )
    match = serializers.ChoiceField(choices=["any", "all"], default="any")


class ReachSerializer(serializers.Serializer):
    variants = ReachVariantSerializer(
        many=True,
        max_length=50,
        help_text="At most 50, in editor order: the first variant that matches wins.",
    )


class ReachCountSerializer(serializers.Serializer):
    reach = serializers.IntegerField(
        help_text="Stored profiles estimated to see it on a request: the stored matches it "
        "takes, times the share of recent page views passing its per-request conditions."
    )
    share = serializers.FloatField(help_text="Of all stored profiles, 0 to 1.")


class ReachVariantCountSerializer(ReachCountSerializer):
    stored = serializers.IntegerField(
        help_text="Stored profiles it takes first (its segments' profile part), before the "
        "per-request conditions."
    )
    request_share = serializers.FloatField(
        allow_null=True,
        help_text="Share of recent page views (last 7 days, newest 2,000) passing its segments' "
        "per-request conditions (device, time of day...); null when it has none or there is no "
        "recent traffic.",
    )


class ReachResultSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Stored profiles.")
    variants = ReachVariantCountSerializer(many=True)
    fallback = ReachCountSerializer(
        help_text="Profiles no variant takes on a request: the default content."
    )
