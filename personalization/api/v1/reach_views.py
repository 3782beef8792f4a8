"""Reach of a personalized block's variants, for the editor drawing them (variant_reach.js)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from ...variants.reach import estimate_reach
from . import serializers as s
from .schema import extend_schema
from .views import PersonalizationAPIView


class CanEditVariants(BasePermission):
    """Whoever edits personalized content or segments: the numbers are aggregate, but they
    describe the audience, which is not for every admin user."""

    message = "Only personalization editors may estimate reach."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and (
                user.has_perm("personalization.change_personalizedcontent")
                or user.has_perm("personalization.change_segment")
            )
        )


def _flat_errors(detail, path: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as one path per field (``variants[1].segments[0]``), as the segment
    estimate names ``rules.all[0].params.value``: easy to show next to the right input."""
    if isinstance(detail, dict):
        items = detail.items()
    elif isinstance(detail, list) and any(isinstance(d, dict | list) for d in detail):
        items = enumerate(detail)
    else:
        return {path: [str(message) for message in detail]} if detail else {}
    errors: dict[str, list[str]] = {}
    for key, value in items:
        key = str(key)
        if key == "non_field_errors" or not key:
            child = path
        elif key.isdigit():
            child = f"{path}[{key}]"
        else:
            child = f"{path}.{key}" if path else key
        for name, messages in _flat_errors(value, child).items():
            errors.setdefault(name, []).extend(messages)
    return errors


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


class VariantReachView(PersonalizationAPIView):
    """How many stored visitors each variant would reach, first match winning, and how many are
    left for the default content. Per-request conditions are estimated from recent page views;
    schedules are not applied (see ``personalization.variants.reach``)."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [CanEditVariants]

    @extend_schema(
        request=s.ReachSerializer,
        responses={
            200: s.ReachResultSerializer,
            400: OpenApiResponse(description="Invalid variants; the errors name the field."),
            403: OpenApiResponse(description="Not a personalization editor, or no CSRF token."),
        },
        summary="Estimate the reach of a block's variants",
    )
    def post(self, request):
        try:
            data = self.validated(s.ReachSerializer)
        except ValidationError as exc:
            raise ValidationError(_flat_errors(exc.detail)) from None
        reach = estimate_reach(data["variants"])
        total = reach["total"]
        return Response(
            {
                "total": total,
                "variants": [
                    {
                        "reach": n,
                        "share": _share(n, total),
                        "stored": stored,
                        "request_share": None if share is None else round(share, 4),
                    }
                    for n, stored, share in zip(
                        reach["variants"], reach["stored"], reach["request_shares"], strict=True
                    )
                ],
                "fallback": {"reach": reach["fallback"], "share": _share(reach["fallback"], total)},
            }
        )
