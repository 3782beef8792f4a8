"""Wagtail hook registrations only; the work lives in the modules they name."""

from django.urls import path, reverse
from wagtail import hooks
from wagtail.admin.menu import MenuItem

from .capture import track_page_view
from .views.privacy import EXPORT_PERM, PrivacyRequestView


@hooks.register("before_serve_page")
def capture_page_view(page, request, serve_args, serve_kwargs):
    track_page_view(request, page)


@hooks.register("register_admin_urls")
def privacy_admin_urls():
    return [
        path(
            "personalization/privacy/",
            PrivacyRequestView.as_view(),
            name="personalization_privacy",
        )
    ]


class PermissionMenuItem(MenuItem):
    def __init__(self, *args, permission: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.permission = permission

    def is_shown(self, request):
        return request.user.has_perm(self.permission)


@hooks.register("register_settings_menu_item")
def privacy_menu_item():
    return PermissionMenuItem(
        "Privacy requests",
        reverse("personalization_privacy"),
        icon_name="lock",
        order=900,
        permission=EXPORT_PERM,
    )
