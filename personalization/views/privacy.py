"""The privacy officer's page in the Wagtail admin: export or erase one visitor, read the log."""

from __future__ import annotations

import json
import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from ..privacy.services import audit_entries, erase_visitor, export_visitor, visitor_ids
from .base import PermissionPageMixin

EXPORT_PERM = "personalization.export_visitor"
ERASE_PERM = "personalization.erase_visitor"


class VisitorRequestForm(forms.Form):
    visitor_id = forms.UUIDField(
        label="Visitor id",
        help_text="The id from the visitor's request (their cookie, or their own export).",
    )
    action = forms.ChoiceField(choices=[("export", "Export"), ("erase", "Erase")])
    confirm = forms.BooleanField(
        required=False, label="I understand that erasure deletes this visitor's data for good."
    )

    def clean(self):
        data = super().clean()
        if data.get("action") == "erase" and not data.get("confirm"):
            self.add_error("confirm", "Tick this box to confirm the erasure.")
        return data


class PrivacyRequestView(PermissionPageMixin, WagtailAdminTemplateMixin, FormView):
    page_title = "Privacy requests"
    header_icon = "lock"
    template_name = "personalization/admin/privacy.html"
    form_class = VisitorRequestForm
    permission = EXPORT_PERM

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            subject = uuid.UUID(self.request.GET.get("visitor", ""))
        except ValueError:
            subject = None  # no filter (a malformed id is not an error on a read-only list)
        context["audit_subject"] = subject
        context["audit_entries"] = audit_entries(subject)[:25]
        context["can_erase"] = self.request.user.has_perm(ERASE_PERM)
        return context

    def form_valid(self, form):
        visitor_id = form.cleaned_data["visitor_id"]
        actor = f"user:{self.request.user.get_username()}"
        if form.cleaned_data["action"] == "export":
            data = export_visitor(visitor_id, actor=actor)
            response = HttpResponse(
                json.dumps(data, cls=DjangoJSONEncoder, indent=2),
                content_type="application/json",
            )
            response["Content-Disposition"] = f'attachment; filename="visitor-{visitor_id}.json"'
            return response
        if not self.request.user.has_perm(ERASE_PERM):
            raise PermissionDenied
        known = len(visitor_ids(visitor_id))
        counts = erase_visitor(visitor_id, actor=actor)
        total = sum(counts.values())
        if total:
            messages.success(
                self.request, f"Erased {total} rows across {known} linked id(s) of {visitor_id}."
            )
        else:
            messages.warning(self.request, f"Nothing was stored about {visitor_id}.")
        return redirect(reverse("personalization_privacy"))
