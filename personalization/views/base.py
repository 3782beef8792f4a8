"""What the admin's single-page views share."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class PermissionPageMixin:
    """A Wagtail admin page behind one django-rules permission, titled in its breadcrumbs.

    Put it before ``WagtailAdminTemplateMixin`` and set ``permission`` and ``page_title``.
    """

    permission = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm(self.permission):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        return [*self.breadcrumbs_items, {"url": "", "label": self.page_title}]
