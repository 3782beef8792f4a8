"""The segment form of the Wagtail admin: rules edited with the builder, saved through services."""

from __future__ import annotations

import json

from django import forms
from django.utils.text import slugify
from wagtail.admin.forms import WagtailAdminModelForm

from .segments.base import ConditionError
from .segments.models import Segment
from .segments.services import check_references, save_segment
from .segments.tree import validate
from .widgets import RuleBuilderWidget

EMPTY_RULES = {"all": []}


def _segment_choices():
    return list(Segment.objects.order_by("name").values_list("slug", "name"))


class SegmentForm(WagtailAdminModelForm):
    # A text field rather than a JSONField: a malformed string becomes our own error message,
    # and is shown back to the user as typed.
    rules = forms.CharField(
        label="Rules",
        required=True,
        strip=False,
        widget=RuleBuilderWidget(segment_choices=_segment_choices),
        help_text=(
            "Visitors match when the groups and conditions below hold. Conditions stored on "
            "the profile decide membership; conditions checked per request are tested live."
        ),
    )

    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        assume_scheme="https",
        max_length=Segment._meta.get_field("webhook_url").max_length,
        help_text=Segment._meta.get_field("webhook_url").help_text,
    )

    class Meta:
        model = Segment
        fields = [
            "name",
            "slug",
            "description",
            "status",
            "kind",
            "priority",
            "webhook_url",
            "rules",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk and not self.instance.rules:
            self.initial.setdefault("rules", EMPTY_RULES)
        # Editors name a segment; the slug (what templates and the API use) follows from the
        # name unless they type one.
        self.fields["slug"].required = False
        self.fields[
            "slug"
        ].help_text = (
            "What templates and the API name the segment by. Left empty, it is made from the name."
        )

    def clean_slug(self):
        slug = self.cleaned_data.get("slug")
        if slug:
            return slug
        if self.instance.pk and self.instance.slug:
            return self.instance.slug
        base = slugify(self.cleaned_data.get("name") or "")[:40] or "segment"
        taken = set(Segment.objects.filter(slug__startswith=base).values_list("slug", flat=True))
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        return slug

    def clean_rules(self):
        raw = self.cleaned_data.get("rules")
        if isinstance(raw, str):
            try:
                rules = json.loads(raw)
            except ValueError as exc:
                raise forms.ValidationError(f"Not valid JSON: {exc}", code="invalid_json") from None
        else:
            rules = raw
        try:
            validate(rules)
            slug = self.cleaned_data.get("slug") or self.instance.slug
            if slug:
                check_references(slug, rules)
        except ConditionError as exc:
            raise forms.ValidationError(str(exc), code="invalid_rules") from None
        return rules

    def save(self, commit=True):
        """Save through ``save_segment`` so every process sees the new definitions."""
        if self.errors:
            raise ValueError("The segment could not be saved: the form has errors.")
        if commit:
            save_segment(self.instance)
            self._save_m2m()
        else:
            self.save_m2m = self._save_m2m
        return self.instance
