"""Experiments in the Wagtail admin: create one from personalized content (A/B/n over one
snippet's variants, or full factorial over several), see the power calculation, start, pause,
resume, complete, promote the winner, and read the results as they come in.

Writes go through the experiment services (``transition``, ``promote``), the same ones the
rest of the product uses. Permissions are django-rules perms through a permission policy.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views import View
from wagtail.admin.ui.tables import Column, DateColumn
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.button import Button
from wagtail.permission_policies.base import BasePermissionPolicy

from ..decisions import promote
from ..experiments import stats
from ..experiments.assignment import factorial_arms
from ..experiments.models import Arm, Experiment, Goal
from ..experiments.results import experiment_results, planned_sample
from ..experiments.services import TRANSITIONS, LifecycleError, log, transition
from ..registry import event_types
from ..variants.blocks import segment_choices
from ..variants.models import PersonalizedContent
from .block_experiments import BlockExperimentView

MAX_CELLS = 16


class ExperimentPermissionPolicy(BasePermissionPolicy):
    """``personalization.<action>_experiment`` through ``user.has_perm`` (django-rules)."""

    def user_has_permission(self, user, action):
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        return user.has_perm(f"personalization.{action}_experiment")

    def users_with_any_permission(self, actions):
        from ..rules import users_holding

        return users_holding(f"personalization.{action}_experiment" for action in actions)


experiment_permission_policy = ExperimentPermissionPolicy(Experiment)


# -- forms ----------------------------------------------------------------------------------


def _variant_choices() -> list[tuple[str, str]]:
    """``slug:variant-id`` for every variant of every snippet, plus ``slug:`` for its default."""
    choices = []
    for snippet in PersonalizedContent.objects.order_by("name"):
        choices.append((f"{snippet.slug}:", f"{snippet.name} — default content"))
        for child in snippet.variants:
            name = child.value.get("name") or "Variant"
            choices.append((f"{snippet.slug}:{child.id}", f"{snippet.name} — {name}"))
    return choices


def _filters(value: str) -> dict:
    if not value.strip():
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        raise forms.ValidationError('Not JSON: write an object like {"form": "signup"}.') from None
    if not isinstance(data, dict) or len(data) > 10:
        raise forms.ValidationError("An object of at most 10 property values.")
    for key, item in data.items():
        if not isinstance(key, str) or len(key) > 64 or isinstance(item, dict | list):
            raise forms.ValidationError("Property names map to plain values.")
    return data


class ExperimentSettingsForm(forms.ModelForm):
    segments = forms.MultipleChoiceField(
        choices=segment_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only visitors in any of these segments take part (none: everyone).",
    )

    class Meta:
        model = Experiment
        fields = [
            "name",
            "slug",
            "hypothesis",
            "traffic_percent",
            "holdout_percent",
            "segments",
            "default_audience_only",
            "policy",
            "epsilon",
            "min_share",
            "warmup",
            "linucb_alpha",
            "baseline_rate",
            "minimum_effect",
            "alpha",
            "power",
        ]

    def clean(self):
        data = super().clean()
        if self.instance.pk and self.instance.status != Experiment.Status.DRAFT:
            locked = {"policy", "slug"} & set(self.changed_data)
            if locked:
                raise forms.ValidationError(
                    f"{', '.join(sorted(locked))} cannot change once the experiment has started."
                )
            if (
                "traffic_percent" in self.changed_data
                and data.get("traffic_percent", 0) < self.instance.traffic_percent
            ):
                self.add_error(
                    "traffic_percent",
                    "Traffic can only go up during a run (lowering it would drop participants).",
                )
        return data


class ExperimentCreateForm(ExperimentSettingsForm):
    """An experiment from personalized content: each chosen placement contributes its chosen
    variants; with several placements every combination is a cell (full factorial)."""

    arms = forms.MultipleChoiceField(
        choices=_variant_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The variants to test. The first choice of each placement is the control "
        "(pick its default content to test against what visitors see today).",
    )
    goal_event = forms.ChoiceField(label="Primary goal: event type")
    goal_filters = forms.CharField(
        label="Primary goal: property values",
        required=False,
        help_text='JSON, e.g. {"form": "signup"}; empty for any event of that type.',
    )
    goal_value_property = forms.CharField(
        label="Revenue property",
        required=False,
        max_length=64,
        help_text="e.g. 'value' for purchases: revenue per visitor is compared too.",
    )
    secondary_event = forms.ChoiceField(label="Secondary goal (optional)", required=False)

    class Meta(ExperimentSettingsForm.Meta):
        fields = ExperimentSettingsForm.Meta.fields

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        types = [(name, name) for name in sorted(event_types())]
        self.fields["goal_event"].choices = types
        self.fields["secondary_event"].choices = [("", "—"), *types]

    def clean_goal_filters(self):
        return _filters(self.cleaned_data.get("goal_filters", ""))

    def clean_arms(self):
        chosen = self.cleaned_data["arms"]
        factors: dict[str, list[str]] = {}
        for value in chosen:
            slug, _, variant_id = value.partition(":")
            factors.setdefault(slug, []).append(variant_id)
        cells = factorial_arms(factors)
        if len(cells) < 2:
            raise forms.ValidationError("Choose at least two versions of one placement.")
        if len(cells) > MAX_CELLS:
            raise forms.ValidationError(f"{len(cells)} cells; at most {MAX_CELLS}.")
        return factors

    def save(self, commit=True):
        experiment = super().save(commit=False)
        factors = self.cleaned_data["arms"]
        experiment.placements = list(factors)
        with transaction.atomic():
            experiment.save()
            for n, cell in enumerate(factorial_arms(factors)):
                Arm.objects.create(
                    experiment=experiment,
                    key=chr(ord("a") + n),
                    is_control=n == 0,
                    variants=cell,
                    sort_order=n,
                    name=" + ".join(_variant_label(s, v) for s, v in cell.items()),
                )
            Goal.objects.create(
                experiment=experiment,
                name=self.cleaned_data["goal_event"],
                event_type=self.cleaned_data["goal_event"],
                primary=True,
                filters=self.cleaned_data["goal_filters"],
                value_property=self.cleaned_data.get("goal_value_property", ""),
            )
            if self.cleaned_data.get("secondary_event"):
                Goal.objects.create(
                    experiment=experiment,
                    name=self.cleaned_data["secondary_event"],
                    event_type=self.cleaned_data["secondary_event"],
                    sort_order=1,
                )
        return experiment


def _variant_label(slug: str, variant_id: str) -> str:
    if not variant_id:
        return f"{slug}: default"
    snippet = PersonalizedContent.objects.filter(slug=slug).first()
    for child in snippet.variants if snippet else []:
        if str(child.id) == variant_id:
            return f"{slug}: {child.value.get('name') or 'variant'}"
    return f"{slug}: {variant_id[:8]}"


# -- views -----------------------------------------------------------------------------------


class ExperimentCreateView(ModelViewSet.add_view_class):
    def form_valid(self, form):
        response = super().form_valid(form)
        log(self.object, "created", str(self.request.user))
        return response

    def get_success_url(self):
        return reverse("personalization_experiments:results", args=[self.object.pk])


class ExperimentEditView(ModelViewSet.edit_view_class):
    def form_valid(self, form):
        changed = list(form.changed_data)
        response = super().form_valid(form)
        if changed:
            log(self.object, "edited", str(self.request.user), fields=changed)
        return response

    @property
    def header_more_buttons(self):
        return [
            *super().header_more_buttons,
            Button(
                "Results",
                url=reverse("personalization_experiments:results", args=[self.object.pk]),
                icon_name="view",
                priority=10,
            ),
        ]


def _chart(series: list[dict], arms: list[str], width: int = 640, height: int = 180) -> dict:
    """Cumulative conversion rate per arm per day, as SVG polylines (no JavaScript needed)."""
    points = {arm: [] for arm in arms}
    top = (
        max((row["arms"].get(a, {}).get("rate") or 0 for row in series for a in arms), default=0)
        or 1
    )
    steps = max(len(series) - 1, 1)
    for i, row in enumerate(series):
        for arm in arms:
            rate = row["arms"].get(arm, {}).get("rate")
            if rate is not None:
                x = round(10 + (width - 20) * i / steps, 1)
                y = round(height - 10 - (height - 20) * rate / top, 1)
                points[arm].append(f"{x},{y}")
    palette = [
        "#2e7d32",
        "#1565c0",
        "#c62828",
        "#6a1b9a",
        "#ef6c00",
        "#00838f",
        "#4e342e",
        "#37474f",
    ]
    return {
        "width": width,
        "height": height,
        "top": top,
        "lines": [
            {"arm": arm, "points": " ".join(pts), "color": palette[i % len(palette)]}
            for i, (arm, pts) in enumerate(points.items())
        ],
        "first": series[0]["date"] if series else "",
        "last": series[-1]["date"] if series else "",
    }


class ResultsView(View):
    http_method_names = ["get"]
    template_name = "personalization/admin/experiment_results.html"

    def get(self, request, pk):
        if not request.user.has_perm("personalization.view_experiment"):
            raise PermissionDenied
        experiment = get_object_or_404(Experiment, pk=pk)
        results = experiment_results(experiment)
        arms = list(experiment.arms.all())
        primary = next((g for g in results["goals"] if g["primary"]), None)
        exposed = min((r["exposed"] for r in primary["arms"]), default=0) if primary else 0
        power_now = None
        if exposed:
            try:
                power_now = stats.achieved_power(
                    exposed,
                    experiment.baseline_rate,
                    experiment.minimum_effect,
                    experiment.alpha / max(len(arms) - 1, 1),
                )
            except (ValueError, ZeroDivisionError):
                power_now = None
        planned = planned_sample(experiment, len(arms))
        can_change = request.user.has_perm("personalization.change_experiment")
        actions = (
            [
                name
                for name, (allowed, _target) in TRANSITIONS.items()
                if experiment.status in allowed
            ]
            if can_change
            else []
        )
        return render(
            request,
            self.template_name,
            {
                "experiment": experiment,
                "arms": arms,
                "results": results,
                "primary": primary,
                "planned": planned,
                "planned_total": planned * len(arms),
                "progress": round(100 * min(exposed / planned, 1)) if planned else 0,
                "power_now": power_now,
                "chart": _chart(results["series"], [a.key for a in arms]),
                "actions": actions,
                "can_promote": can_change and experiment.status == Experiment.Status.COMPLETED,
                "log": experiment.log.all()[:20],
                "header_title": f"Results: {experiment.name}",
                "page_title": f"Results: {experiment.name}",
                "header_icon": "resubmit",
            },
        )


class LifecycleView(View):
    http_method_names = ["post"]

    def post(self, request, pk, action):
        if not request.user.has_perm("personalization.change_experiment"):
            raise PermissionDenied
        experiment = get_object_or_404(Experiment, pk=pk)
        try:
            if action == "promote":
                arm = request.POST.get("arm", "")
                changed = promote(experiment, arm, actor=str(request.user))
                messages.success(
                    request,
                    f"Arm {arm} is the winner; default content updated: "
                    f"{', '.join(changed) or 'none (it showed the defaults)'}.",
                )
            else:
                transition(experiment, action, actor=str(request.user))
                messages.success(request, f"Experiment '{experiment}': {action} done.")
        except LifecycleError as exc:
            messages.error(request, str(exc))
        return redirect(reverse("personalization_experiments:results", args=[pk]))


class ExperimentViewSet(ModelViewSet):
    model = Experiment

    @property
    def permission_policy(self):
        # Wagtail 7.x asks the viewset; 8.x asks its registry (wagtail_hooks registers the same).
        return experiment_permission_policy

    name = "personalization_experiments"
    url_prefix = "personalization/experiments"
    icon = "resubmit"
    menu_label = "Experiments"
    add_to_admin_menu = False
    copy_view_enabled = False
    inspect_view_enabled = False
    list_filter = ["status", "policy"]
    search_fields = ["name"]
    search_backend_name = None
    list_display = [
        "name",
        Column("status", label="Status", accessor="get_status_display", sort_key="status"),
        Column("policy", label="Policy", accessor="get_policy_display", sort_key="policy"),
        Column("placements", label="Placements", accessor=lambda e: ", ".join(e.placements)),
        DateColumn("started_at", label="Started", sort_key="started_at"),
    ]
    add_view_class = ExperimentCreateView
    edit_view_class = ExperimentEditView

    def get_form_class(self, for_update=False):
        return ExperimentSettingsForm if for_update else ExperimentCreateForm

    def get_urlpatterns(self):
        return [
            *super().get_urlpatterns(),
            path("results/<int:pk>/", ResultsView.as_view(), name="results"),
            path("lifecycle/<int:pk>/<str:action>/", LifecycleView.as_view(), name="lifecycle"),
            path("from-page/<int:page_id>/", BlockExperimentView.as_view(), name="from_page"),
        ]
