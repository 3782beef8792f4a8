"""Recommender versions in the Wagtail admin: metrics, CTR, progress, activate and roll back."""

from __future__ import annotations

from celery import current_app
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views.generic import TemplateView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.viewsets.base import ViewSet

from ..recommendations.models import RecommenderVersion
from ..recommendations.reports import ctr_report
from ..recommendations.training import TrainingError, activate_version, rollback, train

VIEW_PERM = "personalization.view_recommenderversion"
CHANGE_PERM = "personalization.change_recommenderversion"
INDEX_URL = "personalization_recommendations:index"
TRAIN_TASK = "personalization.train_recommenders"


def _summary(metrics: dict, split: str) -> dict:
    found = metrics.get(split) or {}
    model, floor = found.get("model") or {}, found.get("popularity") or {}
    return {
        "ndcg": model.get("ndcg@10"),
        "precision": model.get("precision@10"),
        "recall": model.get("recall@10"),
        "coverage": model.get("coverage"),
        "floor": floor.get("ndcg@10"),
    }


def _start_training() -> None:
    """By name, through the broker (views do not import tasks); inline when Celery is eager."""
    if current_app.conf.task_always_eager:
        train()
    else:
        current_app.send_task(TRAIN_TASK)


class RecommenderVersionsView(WagtailAdminTemplateMixin, TemplateView):
    page_title = "Recommendations"
    header_icon = "pick"
    template_name = "personalization/admin/recommendations.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm(VIEW_PERM):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": "", "label": self.page_title}]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        versions = list(RecommenderVersion.objects.defer("artefact")[:50])
        for version in versions:
            version.time_split = _summary(version.metrics, "time")
            version.random_split = _summary(version.metrics, "random")
        context.update(
            versions=versions,
            training=any(v.status == RecommenderVersion.Status.TRAINING for v in versions),
            ctr=ctr_report(),
            can_change=self.request.user.has_perm(CHANGE_PERM),
        )
        return context

    def post(self, request, *args, **kwargs):
        if not request.user.has_perm(CHANGE_PERM):
            raise PermissionDenied
        action = request.POST.get("action")
        try:
            if action == "activate":
                raw = request.POST.get("version", "")
                if not raw.isdigit() or not RecommenderVersion.objects.filter(pk=raw).exists():
                    messages.error(request, "No such version.")
                else:
                    version = activate_version(int(raw))
                    messages.success(request, f"Version {version.pk} is now serving.")
            elif action == "rollback":
                version = rollback()
                messages.success(request, f"Rolled back to version {version.pk}.")
            elif action == "train":
                transaction.on_commit(_start_training)
                messages.success(request, "Training started; progress shows below.")
            else:
                messages.error(request, "Unknown action.")
        except TrainingError as exc:
            messages.error(request, str(exc))
        return redirect(reverse(INDEX_URL))


class RecommendationsViewSet(ViewSet):
    name = "personalization_recommendations"
    url_prefix = "personalization/recommendations"
    icon = "pick"
    menu_label = "Recommendations"
    add_to_admin_menu = False  # shown in the "Personalization" group

    def get_urlpatterns(self):
        return [path("", RecommenderVersionsView.as_view(), name="index")]

    def get_menu_item(self, order=None):
        """Only people who may read the page see it in the menu."""
        item = super().get_menu_item(order)
        item.is_shown = lambda request: request.user.has_perm(VIEW_PERM)
        return item
