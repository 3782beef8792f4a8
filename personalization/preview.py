"""Previewing a page as a segment: Wagtail preview modes in the editor, and a userbar menu on
the live site (staff only, via ``?pz_preview=slug[,slug]``).

Previews never touch a shared cache: the segment-key middleware marks them ``private, no-store``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.template.loader import render_to_string
from wagtail.admin.userbar import BaseItem

from .conf import get_setting
from .context import visitor_context
from .segments.services import compiled_segments

MODE_PREFIX = "segments:"


def segment_preview_modes() -> list[tuple[str, str]]:
    segments = sorted(compiled_segments(), key=lambda s: (-s.priority, s.name))
    return [(f"{MODE_PREFIX}", "As a visitor in no segment")] + [
        (f"{MODE_PREFIX}{s.slug}", f"As “{s.name}”") for s in segments
    ]


class SegmentPreviewMixin:
    """Add to a page model (before ``Page``) to preview it as each enabled segment.

    The mode ``segments:a,b`` previews a combination; personas are segments too (the
    ``persona`` condition), so they appear in the same list.
    """

    @property
    def preview_modes(self):
        return list(super().preview_modes) + segment_preview_modes()

    def serve_preview(self, request, mode_name):
        if mode_name.startswith(MODE_PREFIX):
            chosen = mode_name[len(MODE_PREFIX) :].split(",")
            request._pz_preview_segments = tuple(slug for slug in chosen if slug)
            mode_name = super().preview_modes[0][0]
        return super().serve_preview(request, mode_name)


class PreviewAsSegmentItem(BaseItem):
    """Userbar links: view this live page as each segment, or stop previewing."""

    template_name = "personalization/userbar/preview_as_segment.html"

    def get_context_data(self, parent_context):
        request = parent_context.get("request")
        context = {"self": self, "request": request}
        param = get_setting("PREVIEW_PARAM")
        current = visitor_context(request)
        links = [
            {
                "label": label.replace("As ", "View as ", 1),
                "url": "?" + urlencode({param: mode[len(MODE_PREFIX) :] or "-"}),
                "active": current.preview
                and set(current.segments) == set(filter(None, [mode[len(MODE_PREFIX) :]])),
            }
            for mode, label in segment_preview_modes()
        ]
        context.update(links=links, previewing=current.preview, path=request.path)
        return context

    def render_html(self, parent_context):
        request = parent_context.get("request")
        user = getattr(request, "user", None)
        if user is None or not user.has_perm(get_setting("PREVIEW_PERMISSION")):
            return ""
        return render_to_string(self.template_name, self.get_context_data(parent_context))

    if not hasattr(BaseItem, "render_html"):  # Wagtail 7.0: items are asked ``render(request)``

        def render(self, request):
            return self.render_html({"request": request})
