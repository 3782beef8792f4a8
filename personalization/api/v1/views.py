"""API views: each pins its own authentication, permissions, throttles and parsers."""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import MethodNotAllowed, ValidationError
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ...capture import collecting_visitor_id
from ...consent.purposes import PURPOSES
from ...consent.services import effective_consent, record_consent, stored_consent
from ...context import versions_and_snapshot
from ...events.validation import validate_events
from ...ingestion import ingest_events
from ...privacy.services import erase_visitor, export_visitor
from ...profiles.snapshot import get_snapshot
from ...profiles.traits import NoConsent, TraitError, set_traits
from ...types import RequestContext
from ...visitor_cache import forget_counters
from ...visitors import forget_visitor, request_context
from . import serializers as s
from .authentication import ApiKeyAuthentication, is_api_client
from .identity import (
    mint_visitor,
    request_context_for,
    resolve_visitor,
    usable_snapshot,
    visitor_token,
)
from .parsers import BoundedJSONParser
from .permissions import IsVisitorOrAllowed, check_origin
from .schema import PersonalizationAutoSchema, extend_schema
from .throttling import RequestRateThrottle, enforce_counted_limits, settle_counted_limits


class PersonalizationAPIView(APIView):
    """Our policies, never the host project's defaults; answers are per visitor, never cached."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [RequestRateThrottle]
    parser_classes = [BoundedJSONParser]  # anything else is a 415, never parsed
    # Ours, whatever the host's DEFAULT_SCHEMA_CLASS says (DRF's own would make the schema
    # endpoint fail with "Incompatible AutoSchema"); it documents every error answer.
    schema = PersonalizationAutoSchema()

    # True on views whose every answer goes through one hot read (``read_many``) followed by
    # ``enforce_counted_limits``: the rate limits are counted in that read's round trip instead
    # of one of their own (decide and recommendations through ``api_visitor_context_and``).
    # A request that ends before the read is counted by ``finalize_response``.
    limits_counted_on_read = False

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            forget_counters()  # never left to the next request this thread serves

    def finalize_response(self, request, response, *args, **kwargs):
        if self.limits_counted_on_read:
            settle_counted_limits(request)
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        return response

    def initial(self, request, *args, **kwargs):
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            # Before throttles and permissions read the body or the visitor: TRACE is a 405.
            raise MethodNotAllowed(request.method)
        if "visitor_id" in request.query_params:
            # URLs end up in access logs, proxies and browser history: a token there leaks.
            raise ValidationError({"visitor_id": [ID_IN_QUERY_REFUSED]})
        if "visitor_id" in kwargs:
            try:
                # Handlers read self.kwargs: DRF passes them the original kwargs.
                self.kwargs["visitor_id"] = uuid.UUID(kwargs["visitor_id"])
            except ValueError:
                raise ValidationError({"visitor_id": ["Not a visitor id (a UUID)."]}) from None
        super().initial(request, *args, **kwargs)
        if request.method not in SAFE_METHODS and not is_api_client(request):
            check_origin(request)  # a browser's state change must come from the site itself

    def validated(self, serializer_class, data=None):
        serializer = serializer_class(data=self.request.data if data is None else data)
        if not isinstance(serializer.initial_data, dict):
            raise ValidationError({"body": ["Expected a JSON object."]})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


ID_IN_QUERY_REFUSED = (
    "Visitor tokens are not accepted in the query string (URLs are logged): send the "
    "X-Visitor-Id header, or visitor_id in a JSON body."
)


class EventsView(PersonalizationAPIView):
    """Events are stored once per idempotency key and folded into the visitor's profile.

    Each bad event gets its own error naming the field; the good ones in the batch are kept.
    Nothing is stored for bots, Do-Not-Track/GPC browsers or visitors without consent.
    """

    limits_counted_on_read = True

    @extend_schema(
        request=s.EventBatchSerializer,
        responses={
            202: s.IngestResultSerializer,
            200: OpenApiResponse(
                s.IngestResultSerializer,
                description=(
                    "Nothing was stored: the events were ignored, for the reason the "
                    "`Personalization-Ignored` header and `ignored_reason` give "
                    "(`no_consent`, `do_not_track` or `bot`)."
                ),
            ),
            400: OpenApiResponse(description="Malformed batch, or no valid event in it."),
            413: OpenApiResponse(description="Body larger than PERSONALIZATION_MAX_BODY_BYTES."),
        },
        summary="Send a batch of events for one visitor",
    )
    def post(self, request):
        # A plain batch skips DRF's per-event work; anything else gets the serializer's answer.
        data = s.plain_event_batch(request.data)
        if data is None:
            data = self.validated(s.EventBatchSerializer)
        context = request_context_for(request, data.get("context", {}))
        visitor_id = resolve_visitor(request, data.get("visitor_id"))
        # Versions and snapshot in one round trip: ingestion needs the content version for
        # experiment conversions, and the snapshot says whose profile the token reaches.
        (_, content_version), snapshot = versions_and_snapshot(visitor_id)
        enforce_counted_limits(request)  # the read counted this request: a 429 before storing
        visitor_id, snapshot = usable_snapshot(request, visitor_id, snapshot=snapshot)
        if visitor_id is None:
            if is_api_client(request):
                raise ValidationError({"visitor_id": ["Required for API-key clients."]})
            visitor_id = collecting_visitor_id(request._request, context)
        # Browsers send only browser-safe types, or others signed by a server for this visitor.
        events, errors = validate_events(
            data["events"], trusted=is_api_client(request), visitor_id=visitor_id
        )
        if visitor_id is None:
            result = {"ignored": len(events), "ignored_reason": "no_consent"}
            body = {"accepted": 0, "duplicates": 0, "rejected": len(errors), **result}
        else:
            outcome = ingest_events(
                visitor_id,
                events,
                context,
                rejected=len(errors),
                snapshot=snapshot,
                content_version=content_version,
            )
            body = {
                "accepted": outcome.accepted,
                "duplicates": outcome.duplicates,
                "rejected": outcome.rejected,
                "ignored": outcome.ignored,
                "ignored_reason": outcome.ignored_reason,
                "conversions": outcome.conversions,
            }
        body.update(visitor_token=visitor_token(visitor_id), errors=errors)
        if errors and not events:
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        if body["ignored"]:
            # Not a 202: nothing was accepted, and a caller checking only the status (curl, a
            # quick integration) must not read that as success.
            response = Response(body, status=status.HTTP_200_OK)
            response[IGNORED_HEADER] = f"{body['ignored_reason']}; count={body['ignored']}"
            return response
        return Response(body, status=status.HTTP_202_ACCEPTED)


IGNORED_HEADER = "Personalization-Ignored"


def _consent_state(visitor_id, context: RequestContext) -> dict:
    stored = stored_consent(visitor_id) if visitor_id else {}
    effective = effective_consent(
        {p: r["granted"] for p, r in stored.items()}, dnt=context.dnt, gpc=context.gpc
    )
    purposes = {}
    for purpose in PURPOSES:
        record = stored.get(purpose)
        if record is not None and record["granted"] == effective[purpose]:
            source = "explicit"
        elif record is None and effective_consent({})[purpose] == effective[purpose]:
            source = "default"
        else:
            source = "signal"
        purposes[purpose] = {
            "granted": effective[purpose],
            "source": source,
            "updated_at": record["updated_at"] if record else None,
        }
    return {"visitor_token": visitor_token(visitor_id), "purposes": purposes}


class ConsentView(PersonalizationAPIView):
    """Consent per purpose (necessary, analytics, personalization, marketing).

    Recording consent gives a new visitor their id: a cookie for browsers, and
    ``visitor_token`` for headless clients to send back as ``X-Visitor-Id``.
    """

    @extend_schema(responses=s.ConsentStateSerializer, summary="The visitor's consent state")
    def get(self, request):
        _, snapshot = usable_snapshot(request, resolve_visitor(request))
        visitor_id = snapshot.visitor_id if snapshot else None  # a merged id: its profile
        return Response(_consent_state(visitor_id, request_context(request._request)))

    @extend_schema(
        request=s.ConsentUpdateSerializer,
        responses=s.ConsentStateSerializer,
        summary="Record the visitor's consent per purpose",
    )
    def post(self, request):
        data = self.validated(s.ConsentUpdateSerializer)
        visitor_id = resolve_visitor(request, data.get("visitor_id"))
        # Versions and snapshot in one round trip: ingestion needs the content version for
        # experiment conversions, and the snapshot says whose profile the token reaches.
        (_, content_version), snapshot = versions_and_snapshot(visitor_id)
        visitor_id, snapshot = usable_snapshot(request, visitor_id, snapshot=snapshot)
        if visitor_id is None:
            if is_api_client(request):
                raise ValidationError({"visitor_id": ["Required for API-key clients."]})
            visitor_id = mint_visitor(request)
        source = "server" if is_api_client(request) else "api"
        visitor_id = (snapshot or get_snapshot(visitor_id)).visitor_id
        record_consent(visitor_id, data["purposes"], source=source)
        return Response(_consent_state(visitor_id, request_context(request._request)))


class ProfileView(PersonalizationAPIView):
    """What the calling visitor's profile holds: their own data, so they can see it."""

    @extend_schema(responses=s.ProfileSerializer, summary="The calling visitor's own profile")
    def get(self, request):
        _, snapshot = usable_snapshot(request, resolve_visitor(request))
        if snapshot is None:
            raise ValidationError({"visitor_id": ["No visitor id: send the X-Visitor-Id header."]})
        return Response(snapshot.as_dict())


class VisitorTraitsView(PersonalizationAPIView):
    """Traits from the site's own systems (CRM tier, age band); ``null`` removes one."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsVisitorOrAllowed]
    required_perm = "personalization.set_traits"
    allow_self = False

    @extend_schema(
        request=s.TraitsSerializer,
        responses={200: s.TraitsResultSerializer, 409: OpenApiResponse(description="No consent")},
        summary="Set traits on a visitor (server clients, CRM imports)",
    )
    def post(self, request, visitor_id):
        visitor_id = self.kwargs["visitor_id"]  # parsed in initial()
        data = self.validated(s.TraitsSerializer)
        canonical = get_snapshot(visitor_id).visitor_id
        try:
            traits = set_traits(canonical, data["traits"], require_consent=data["require_consent"])
        except TraitError as exc:
            raise ValidationError({exc.field: [exc.message]}) from None
        except NoConsent:
            return Response(
                {"detail": "The visitor has not consented to personalization."},
                status=status.HTTP_409_CONFLICT,
            )
        return Response({"visitor_id": canonical, "traits": traits})


def _actor(request) -> str:
    if is_api_client(request):
        return f"api-key:{request.auth.name}"
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.get_username()}"
    return "visitor"


class VisitorExportView(PersonalizationAPIView):
    """Everything stored about a visitor, for the visitor or a privacy officer (GDPR Art. 15/20)."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsVisitorOrAllowed]
    required_perm = "personalization.export_visitor"

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT}, summary="Export everything stored about a visitor"
    )
    def get(self, request, visitor_id):
        visitor_id = self.kwargs["visitor_id"]  # parsed in initial()
        return Response(export_visitor(visitor_id, actor=_actor(request)))


class VisitorView(PersonalizationAPIView):
    """Erasure of a visitor from every table (GDPR Art. 17, CCPA deletion)."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsVisitorOrAllowed]
    required_perm = "personalization.erase_visitor"

    @extend_schema(responses={200: s.ErasureResultSerializer}, summary="Erase a visitor everywhere")
    def delete(self, request, visitor_id):
        visitor_id = self.kwargs["visitor_id"]  # parsed in initial()
        counts = erase_visitor(visitor_id, actor=_actor(request))
        if not is_api_client(request) and resolve_visitor(request) == visitor_id:
            forget_visitor(request._request)
        return Response({"erased": counts})
