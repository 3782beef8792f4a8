"""An experiment from a page's personalized block: the editor picks one of the page's
``PersonalizedBlock``s (from the page's header, "Experiment on a block"), and the arms are that
block's default content (the control) and each of its variants.

The placement is ``page-<page id>-<block id>`` (``experiments.placements``); the blocks are
read from the page's latest revision, so a block can be tested as soon as it is published.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views import View
from wagtail.admin.widgets.button import Button
from wagtail.fields import StreamField
from wagtail.models import Page

from ..experiments.models import Arm, Experiment, Goal
from ..experiments.placements import block_placement
from ..experiments.services import log
from ..registry import event_types
from ..variants.blocks import VariantsBlock


def personalized_blocks(page) -> list[dict]:
    """The page's personalized blocks, in page order: id, placement, label and variants."""
    found = []
    for field in page._meta.get_fields():
        if not isinstance(field, StreamField):
            continue
        for child in getattr(page, field.name) or []:
            if not isinstance(child.block, VariantsBlock) or not child.id:
                continue
            variants = [
                (str(item.id), item.value.get("name") or f"Variant {n}")
                for n, item in enumerate(child.value["variants"].bound_blocks, start=1)
            ]
            found.append(
                {
                    "id": str(child.id),
                    "placement": block_placement(page.pk, child.id),
                    "label": f"Block {len(found) + 1}: "
                    + (", ".join(name for _id, name in variants) or "default content only"),
                    "variants": variants,
                }
            )
    return found


def page_header_buttons(page, user, view_name, next_url=None):
    """ "Experiment on a block" in the page's header, for pages with a personalized block and
    users who may create experiments (the ``register_page_header_buttons`` hook)."""
    if view_name != "edit" or not user.has_perm("personalization.add_experiment"):
        return
    if any(isinstance(f, StreamField) for f in page._meta.get_fields()) and personalized_blocks(
        page
    ):
        yield Button(
            "Experiment on a block",
            url=reverse("personalization_experiments:from_page", args=[page.pk]),
            icon_name="resubmit",
            priority=80,
        )


class BlockExperimentForm(forms.Form):
    block = forms.ChoiceField(widget=forms.RadioSelect, label="Personalized block")
    name = forms.CharField(max_length=120)
    goal_event = forms.ChoiceField(label="Primary goal: event type")

    def __init__(self, *args, blocks: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.blocks = {b["id"]: b for b in blocks}
        self.fields["block"].choices = [(b["id"], b["label"]) for b in blocks]
        self.fields["goal_event"].choices = [(n, n) for n in sorted(event_types())]

    def clean_block(self):
        chosen = self.blocks[self.cleaned_data["block"]]
        if not chosen["variants"]:
            raise forms.ValidationError("This block has no variants to test.")
        # Not a JSON ``contains`` lookup: SQLite has none.
        busy = Experiment.objects.exclude(status=Experiment.Status.COMPLETED)
        if any(chosen["placement"] in (p or []) for p in busy.values_list("placements", flat=True)):
            raise forms.ValidationError("An experiment already runs on this block.")
        return chosen

    def save(self, page) -> Experiment:
        chosen = self.cleaned_data["block"]
        placement = chosen["placement"]
        base = slugify(self.cleaned_data["name"])[:60] or "block"
        slug, n = base, 1
        while Experiment.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        with transaction.atomic():
            experiment = Experiment.objects.create(
                name=self.cleaned_data["name"],
                slug=slug,
                hypothesis=f"A variant of a block on '{page.title}' beats its default content.",
                placements=[placement],
            )
            cells = [("", "Default content"), *chosen["variants"]]
            for n, (variant_id, label) in enumerate(cells):
                Arm.objects.create(
                    experiment=experiment,
                    key=chr(ord("a") + n),
                    name=label,
                    variants={placement: variant_id},
                    is_control=n == 0,
                    sort_order=n,
                )
            event = self.cleaned_data["goal_event"]
            Goal.objects.create(experiment=experiment, name=event, event_type=event, primary=True)
        return experiment


class BlockExperimentView(View):
    """GET: the page's personalized blocks to pick from; POST: a draft experiment on one."""

    template_name = "personalization/admin/block_experiment.html"

    def dispatch(self, request, page_id):
        if not request.user.has_perm("personalization.add_experiment"):
            raise PermissionDenied
        page = get_object_or_404(Page, pk=page_id).specific
        if not page.permissions_for_user(request.user).can_edit():
            raise PermissionDenied
        self.page = page.get_latest_revision_as_object()
        self.blocks = personalized_blocks(self.page)
        return super().dispatch(request, page_id)

    def get(self, request, page_id):
        return self.show(BlockExperimentForm(blocks=self.blocks))

    def post(self, request, page_id):
        form = BlockExperimentForm(request.POST, blocks=self.blocks)
        if not form.is_valid():
            return self.show(form, status=400)
        experiment = form.save(self.page)
        log(experiment, "created", str(request.user), page=self.page.pk)
        return redirect(reverse("personalization_experiments:edit", args=[experiment.pk]))

    def show(self, form, status: int = 200):
        title = f"Experiment on a block of '{self.page.title}'"
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "page": self.page,
                "blocks": self.blocks,
                "header_title": title,
                "page_title": title,
                "header_icon": "resubmit",
            },
            status=status,
        )
