"""Segments in the Wagtail admin: listing, builder form, insights, recompute and CSV export.

Permissions come from django-rules (``personalization/rules.py``) through a permission policy,
so the listing, the buttons and the direct URLs all follow the same roles.
"""

from __future__ import annotations

import csv
import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from wagtail.admin.ui.tables import Column, DateColumn
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.button import Button
from wagtail.permission_policies.base import BasePermissionPolicy

from ..background import SEGMENTS_QUEUE, enqueue, run_inline
from ..compat import NumberColumn
from ..forms import SegmentForm
from ..rules import users_holding
from ..segments.base import PROFILE, REQUEST, ConditionError
from ..segments.models import Segment, SegmentMembership, SegmentSizeHistory
from ..segments.registry import condition_types
from ..segments.services import recompute_segment_by_id
from ..segments.tree import compile_rules, describe_kinds

EXPORT_MEMBERS_PERM = "personalization.export_segment_members"
SAMPLE_SIZE = 10
HISTORY_DAYS = 30
RECOMPUTE_TASK = "personalization.recompute_segment"


class SegmentPermissionPolicy(BasePermissionPolicy):
    """``personalization.<action>_segment`` through ``user.has_perm`` (django-rules); which
    roles hold an action is read from ``rules.PERMISSIONS``, the one definition."""

    def user_has_permission(self, user, action):
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        return user.has_perm(f"personalization.{action}_segment")

    def users_with_any_permission(self, actions):
        return users_holding(f"personalization.{action}_segment" for action in actions)


segment_permission_policy = SegmentPermissionPolicy(Segment)


# -- insights ---------------------------------------------------------------------------------


def _labels(types: list[str]) -> list[dict[str, str]]:
    known = condition_types()
    return [{"type": t, "label": str(known[t].label) if t in known else t} for t in types]


def segment_insights(segment: Segment, user) -> dict:
    """What the edit and inspect pages show about a saved segment."""
    try:
        kinds = describe_kinds(compile_rules(segment.rules))
        rules_error = ""
    except ConditionError as exc:
        kinds, rules_error = {PROFILE: [], REQUEST: []}, str(exc)
    history = list(
        SegmentSizeHistory.objects.filter(segment=segment).order_by("-date")[:HISTORY_DAYS]
    )
    history.reverse()
    peak = max((row.size for row in history), default=0)
    can_change = user.has_perm("personalization.change_segment")
    can_export = user.has_perm(EXPORT_MEMBERS_PERM)
    return {
        "segment": segment,
        "profile_types": _labels(kinds[PROFILE]),
        "request_types": _labels(kinds[REQUEST]),
        "rules_error": rules_error,
        "is_static": segment.kind == Segment.Kind.STATIC,
        "members_sample": SegmentMembership.objects.filter(segment=segment).order_by(
            "-entered_at", "visitor_id"
        )[:SAMPLE_SIZE],
        "history": [
            {
                "date": row.date,
                "size": row.size,
                "percent": round(100 * row.size / peak) if peak else 0,
            }
            for row in history
        ],
        "history_peak": peak,
        "recompute_url": reverse("personalization_segments:recompute", args=[segment.pk])
        if can_change
        else "",
        "export_url": reverse("personalization_segments:export_members", args=[segment.pk])
        if can_export
        else "",
    }


class InsightsMixin:
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["insights"] = segment_insights(self.object, self.request.user)
        return context


# -- views of the viewset ---------------------------------------------------------------------


class RecomputeOnSaveMixin:
    """A saved segment's size is computed at once, not left at 0 until someone clicks
    "Recompute now": in the request without workers, else on a worker after the commit, with
    its progress (queued, then done/total steps) on the edit page meanwhile."""

    def save_instance(self):
        instance = super().save_instance()
        Segment.objects.filter(pk=instance.pk).update(
            progress={"done": 0, "total": 2, "at": timezone.now().isoformat(), "queued": True}
        )
        transaction.on_commit(lambda: _queue_recompute(instance.pk))
        return instance

    def get_success_message(self, *args):
        message = super().get_success_message(*args)
        if run_inline():
            return message
        return f"{message} Its size is being computed in the background."


class SegmentCreateView(RecomputeOnSaveMixin, ModelViewSet.add_view_class):
    pass


class SegmentEditView(RecomputeOnSaveMixin, InsightsMixin, ModelViewSet.edit_view_class):
    @property
    def header_more_buttons(self):
        buttons = list(super().header_more_buttons)
        if self.request.user.has_perm(EXPORT_MEMBERS_PERM):
            buttons.append(
                Button(
                    "Download members (CSV)",
                    url=reverse("personalization_segments:export_members", args=[self.object.pk]),
                    icon_name="download",
                    priority=40,
                )
            )
        return buttons


class SegmentInspectView(InsightsMixin, ModelViewSet.inspect_view_class):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rules_json"] = json.dumps(self.object.rules, indent=2)
        return context


def _queue_recompute(segment_id: int) -> None:
    """Recompute after the commit: in the request without workers (dev, tests, no broker),
    else on a worker. Sent by name: the views do not import the task module."""
    enqueue(
        RECOMPUTE_TASK,
        [segment_id],
        queue=SEGMENTS_QUEUE,
        inline=lambda: recompute_segment_by_id(segment_id),
    )


class RecomputeView(View):
    http_method_names = ["post"]

    def post(self, request, pk):
        if not request.user.has_perm("personalization.change_segment"):
            raise PermissionDenied
        segment = get_object_or_404(Segment, pk=pk)
        eager = run_inline()
        _queue_recompute(segment.pk)
        if eager:
            messages.success(request, f"Segment '{segment}' recomputed.")
        else:
            messages.success(
                request, f"Recomputing segment '{segment}'; refresh the page to see its size."
            )
        next_url = request.POST.get("next", "")
        if next_url and url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(next_url)
        return redirect(reverse("personalization_segments:edit", args=[segment.pk]))


class _Echo:
    def write(self, value):
        return value


class ExportMembersView(View):
    http_method_names = ["get"]

    def get(self, request, pk):
        if not request.user.has_perm(EXPORT_MEMBERS_PERM):
            raise PermissionDenied
        segment = get_object_or_404(Segment, pk=pk)
        writer = csv.writer(_Echo())
        members = (
            SegmentMembership.objects.filter(segment=segment)
            .order_by("entered_at", "visitor_id")
            .values_list("visitor_id", "entered_at")
        )

        def rows():
            yield writer.writerow(["visitor_id", "entered_at"])
            for visitor_id, entered_at in members.iterator(chunk_size=2000):
                yield writer.writerow([str(visitor_id), entered_at.isoformat()])

        stamp = timezone.now().strftime("%Y%m%d")
        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="segment-{segment.slug}-members-{stamp}.csv"'
        )
        return response


# -- the viewset ------------------------------------------------------------------------------


class SegmentViewSet(ModelViewSet):
    model = Segment

    @property
    def permission_policy(self):
        # Wagtail 7.x asks the viewset; 8.x asks its registry, where wagtail_hooks put the same
        # policy first (so 8.x sees no policy "registered via the viewset" and warns about none).
        return segment_permission_policy

    name = "personalization_segments"
    url_prefix = "personalization/segments"
    icon = "group"
    menu_label = "Segments"
    add_to_admin_menu = False  # shown in the "Personalization" group
    copy_view_enabled = False
    inspect_view_enabled = True
    list_per_page = 50
    list_filter = ["status", "kind"]
    search_fields = ["name"]
    search_backend_name = None
    list_display = [
        "name",
        Column("status", label="Status", accessor="get_status_display", sort_key="status"),
        Column("kind", label="Kind", accessor=lambda s: s.kind.capitalize(), sort_key="kind"),
        NumberColumn("priority", label="Priority", sort_key="priority"),
        NumberColumn("member_count", label="Size", sort_key="member_count"),
        DateColumn("last_recomputed_at", label="Last recomputed", sort_key="last_recomputed_at"),
    ]
    add_view_class = SegmentCreateView
    edit_view_class = SegmentEditView
    inspect_view_class = SegmentInspectView
    edit_template_name = "personalization/admin/segment_edit.html"
    inspect_template_name = "personalization/admin/segment_inspect.html"
    inspect_view_fields = [
        "name",
        "slug",
        "description",
        "status",
        "kind",
        "priority",
        "webhook_url",
        "member_count",
        "last_recomputed_at",
        "updated_at",
    ]

    def get_form_class(self, for_update=False):
        return SegmentForm

    def get_urlpatterns(self):
        return [
            *super().get_urlpatterns(),
            path("recompute/<int:pk>/", RecomputeView.as_view(), name="recompute"),
            path("members/<int:pk>/csv/", ExportMembersView.as_view(), name="export_members"),
        ]
