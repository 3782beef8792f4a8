"""Models, personas and a visitor's scores in the Wagtail admin (analysts).

- Models: every trained version with its metrics, training window and progress; "Train now"
  queues a training run, "Activate" makes a version the serving one (rollback is activating an
  older version).
- Personas: the current and retired personas; the name is editable and survives retraining;
  "Make a segment" creates (or opens) a segment holding the persona.
- Visitor scores: one visitor's persona, scores and the features that moved each score.
"""

from __future__ import annotations

import uuid

from celery import current_app
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView
from wagtail.admin.panels import FieldPanel
from wagtail.admin.ui.tables import BooleanColumn, Column, DateColumn
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.button import Button
from wagtail.permission_policies.base import BasePermissionPolicy

from ..compat import NumberColumn
from ..profiles.snapshot import build_snapshot
from ..rules import users_holding
from ..scoring.models import ModelVersion, Persona
from ..scoring.services import activate, apply_models, explain_visitor, rename_persona, train_models
from ..scoring.training import TrainingError
from ..segments.models import Segment
from ..segments.services import recompute_segment, save_segment
from .base import PermissionPageMixin

VIEW_MODELS = "personalization.view_modelversion"
TRAIN_MODELS = "personalization.train_models"
VIEW_PERSONAS = "personalization.view_persona"
CHANGE_PERSONAS = "personalization.change_persona"
VIEW_SCORES = "personalization.view_visitor_scores"
TRAIN_TASK = "personalization.train_models"
APPLY_TASK = "personalization.apply_models"


class RulesPermissionPolicy(BasePermissionPolicy):
    """Admin actions mapped to django-rules permissions; unmapped actions are refused."""

    def __init__(self, model, perms: dict[str, str]):
        super().__init__(model)
        self.perms = perms

    def user_has_permission(self, user, action):
        perm = self.perms.get(action)
        if not perm or not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        return user.has_perm(perm)

    def users_with_any_permission(self, actions):
        # Who holds each permission is read from rules.PERMISSIONS, the one definition.
        return users_holding(self.perms[a] for a in actions if a in self.perms)


def model_policy() -> RulesPermissionPolicy:
    return RulesPermissionPolicy(ModelVersion, {"view": VIEW_MODELS})


def persona_policy() -> RulesPermissionPolicy:
    return RulesPermissionPolicy(
        Persona,
        {"view": VIEW_PERSONAS, "change": CHANGE_PERSONAS},
    )


model_permission_policy = model_policy()
persona_permission_policy = persona_policy()


def confirm(request, *, title: str, message: str, button: str, cancel_url: str):
    """A small POST form behind a link, so that nothing changes on a GET."""
    from django.template.response import TemplateResponse

    return TemplateResponse(
        request,
        "personalization/admin/confirm.html",
        {
            "page_title": title,
            "header_title": title,
            "message": message,
            "button": button,
            "action_url": request.path,
            "cancel_url": cancel_url,
            "breadcrumbs_items": [],
        },
    )


def _run_after_commit(name: str, eager, args: list | None = None) -> None:
    """Eager Celery (dev, tests): run now, after the commit; else send the task by name."""
    if current_app.conf.task_always_eager:
        transaction.on_commit(eager)
    else:
        transaction.on_commit(lambda: current_app.send_task(name, args=args or []))


def _headline(version: ModelVersion) -> str:
    m = version.metrics or {}
    if version.status == ModelVersion.Status.FAILED:
        return f"failed: {version.error[:80]}"
    if version.status == ModelVersion.Status.TRAINING:
        p = version.progress or {}
        return f"training: {p.get('step', 'starting')} {p.get('done', 0)}/{p.get('total', '?')}"
    if version.kind == ModelVersion.Kind.PERSONAS:
        best = next((row for row in m.get("per_k", []) if row.get("k") == m.get("k")), {})
        return (
            f"k={m.get('k')}, silhouette {best.get('silhouette')}, "
            f"Davies-Bouldin {best.get('davies_bouldin')}, {m.get('n_profiles')} profiles"
        )
    base = (m.get("baseline") or {}).get("roc_auc")
    return (
        f"ROC AUC {m.get('roc_auc')} (baseline {base}), PR AUC {m.get('pr_auc')}, "
        f"Brier {m.get('brier')}"
    )


class ModelIndexView(ModelViewSet.index_view_class):
    @property
    def header_more_buttons(self):
        buttons = list(super().header_more_buttons)
        if self.request.user.has_perm(TRAIN_MODELS):
            buttons.append(
                Button(
                    "Train models now",
                    url=reverse("personalization_models_train"),
                    icon_name="rotate",
                    priority=10,
                    attrs={"data-pz-post": "true"},
                )
            )
        return buttons


class ModelInspectView(ModelViewSet.inspect_view_class):
    template_name = "personalization/admin/model_inspect.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        version = self.object
        context["version"] = version
        context["headline"] = _headline(version)
        context["metrics"] = version.metrics or {}
        context["can_activate"] = (
            self.request.user.has_perm(TRAIN_MODELS)
            and version.status == ModelVersion.Status.READY
            and not version.is_active
        )
        context["activate_url"] = reverse("personalization_models_activate", args=[version.pk])
        return context


class ModelVersionViewSet(ModelViewSet):
    model = ModelVersion

    @property
    def permission_policy(self):
        # Wagtail 7.x asks the viewset; 8.x asks its registry (wagtail_hooks registers the same).
        return model_permission_policy

    name = "personalization_models"
    url_prefix = "personalization/models"
    icon = "cogs"
    menu_label = "Models"
    add_to_admin_menu = False
    copy_view_enabled = False
    inspect_view_enabled = True
    list_per_page = 50
    list_filter = ["name", "status", "is_active"]
    search_backend_name = None
    form_fields = ["name"]  # never edited here; required by the viewset machinery
    list_display = [
        Column("name", label="Model", accessor=lambda v: str(v), sort_key="name"),
        Column("status", label="Status", accessor="get_status_display", sort_key="status"),
        BooleanColumn("is_active", label="Active"),
        Column("summary", label="Metrics", accessor=_headline),
        DateColumn("trained_at", label="Trained", sort_key="trained_at"),
        DateColumn("window_end", label="Data until", sort_key="window_end"),
    ]
    index_view_class = ModelIndexView
    inspect_view_class = ModelInspectView


class TrainView(View):
    http_method_names = ["get", "post"]

    def get(self, request):
        # The header button is a link: confirm with a small form, never train on a GET.
        if not request.user.has_perm(TRAIN_MODELS):
            raise PermissionDenied
        return confirm(
            request,
            title="Train models",
            message="Train personas and every configured score on the current profiles?",
            button="Train now",
            cancel_url=reverse("personalization_models:index"),
        )

    def post(self, request):
        if not request.user.has_perm(TRAIN_MODELS):
            raise PermissionDenied
        actor = f"user:{request.user.get_username()}"
        _run_after_commit(TRAIN_TASK, lambda: train_models(actor=actor))
        if current_app.conf.task_always_eager:
            messages.success(request, "Models trained.")
        else:
            messages.success(request, "Training queued; progress shows in the list.")
        return redirect(reverse("personalization_models:index"))


class ActivateView(View):
    http_method_names = ["post"]

    def post(self, request, pk):
        if not request.user.has_perm(TRAIN_MODELS):
            raise PermissionDenied
        version = get_object_or_404(ModelVersion, pk=pk)
        try:
            activate(version)
        except TrainingError as exc:
            messages.error(request, str(exc))
            return redirect(reverse("personalization_models:inspect", args=[pk]))
        _run_after_commit(APPLY_TASK, apply_models)
        messages.success(request, f"{version} is active; profiles are being rescored.")
        return redirect(reverse("personalization_models:index"))


# -- personas ---------------------------------------------------------------------------------


class PersonaEditView(ModelViewSet.edit_view_class):
    def save_instance(self):
        return rename_persona(self.form.instance, self.form.cleaned_data["name"])

    @property
    def header_more_buttons(self):
        buttons = list(super().header_more_buttons)
        if self.request.user.has_perm("personalization.add_segment"):
            buttons.append(
                Button(
                    "Make a segment",
                    url=reverse("personalization_persona_segment", args=[self.object.pk]),
                    icon_name="group",
                    priority=10,
                )
            )
        return buttons


class PersonaViewSet(ModelViewSet):
    model = Persona

    @property
    def permission_policy(self):
        return persona_permission_policy

    name = "personalization_personas"
    url_prefix = "personalization/personas"
    icon = "group"
    menu_label = "Personas"
    add_to_admin_menu = False
    copy_view_enabled = False
    inspect_view_enabled = False
    list_per_page = 50
    search_backend_name = None
    panels = [FieldPanel("name")]
    form_fields = ["name"]
    list_display = [
        "name",
        Column("key", label="Key (for segments)"),
        Column("description", label="Description"),
        NumberColumn("size", label="Visitors at training", sort_key="size"),
        DateColumn("retired_at", label="Retired", sort_key="retired_at"),
    ]
    edit_view_class = PersonaEditView


def persona_segment_rules(persona: Persona) -> dict:
    return {"all": [{"type": "persona", "params": {"in": [persona.key]}}]}


class PersonaSegmentView(View):
    """One click: a segment whose only rule is this persona (found again if it exists)."""

    http_method_names = ["get", "post"]

    def get(self, request, pk):
        if not request.user.has_perm("personalization.add_segment"):
            raise PermissionDenied
        persona = get_object_or_404(Persona, pk=pk)
        segment = Segment.objects.filter(slug=persona.key[:80]).first()
        if segment is not None:
            return redirect(reverse("personalization_segments:edit", args=[segment.pk]))
        return confirm(
            request,
            title=f"Make a segment of '{persona.name}'",
            message=f"Create an enabled segment of the visitors in persona {persona.key}?",
            button="Create the segment",
            cancel_url=reverse("personalization_personas:edit", args=[persona.pk]),
        )

    def post(self, request, pk):
        if not request.user.has_perm("personalization.add_segment"):
            raise PermissionDenied
        persona = get_object_or_404(Persona, pk=pk)
        slug = persona.key[:80]
        segment = Segment.objects.filter(slug=slug).first()
        if segment is None:
            segment = Segment(
                slug=slug,
                name=f"Persona: {persona.name}"[:120],
                description=persona.description,
                rules=persona_segment_rules(persona),
                status=Segment.Status.ENABLED,
            )
            save_segment(segment)
            recompute_segment(segment)
            messages.success(request, f"Segment '{segment.name}' created.")
        return redirect(reverse("personalization_segments:edit", args=[segment.pk]))


# -- one visitor ------------------------------------------------------------------------------


class VisitorLookupForm(forms.Form):
    visitor_id = forms.UUIDField(label="Visitor id")


class VisitorScoresView(PermissionPageMixin, WagtailAdminTemplateMixin, FormView):
    """What the models say about one visitor, and why (top contributing features)."""

    page_title = "Visitor scores"
    header_icon = "user"
    template_name = "personalization/admin/visitor_scores.html"
    form_class = VisitorLookupForm
    permission = VIEW_SCORES

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if "visitor_id" in self.request.GET:
            kwargs["data"] = self.request.GET
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context["form"]
        if form.is_bound and form.is_valid():
            context["visitor"] = visitor_report(form.cleaned_data["visitor_id"])
        return context


def visitor_report(visitor_id: uuid.UUID) -> dict:
    snapshot = build_snapshot(visitor_id)
    persona = Persona.objects.filter(key=snapshot.persona).first() if snapshot.persona else None
    explanations = explain_visitor(snapshot) if snapshot.exists else {}
    return {
        "id": visitor_id,
        "exists": snapshot.exists,
        "persona": persona,
        "persona_key": snapshot.persona,
        "scores": [
            {"name": name, "value": value, "explanation": explanations.get(name, [])}
            for name, value in sorted(snapshot.predicted_scores.items())
        ],
        "event_count": snapshot.event_count,
        "last_seen": snapshot.last_seen,
    }
