"""Where Wagtail's API differs between the supported releases, use what the installed one has.

Feature detection, not version numbers: each name below is looked up, and the fallback is the
older release's way of doing the same thing. Supported: Wagtail 7.0 LTS, 7.4 LTS and 8.x
(``noxfile.py`` runs the whole suite against each).
"""

from __future__ import annotations

from typing import Any

try:  # Wagtail 8.0+: one registry of permission policies, consulted by every admin view.
    from wagtail.permissions import register_permission_policy as _register_policy
except ImportError:  # Wagtail 7.x: the viewset's ``permission_policy`` property is the only one.
    _register_policy = None

HAS_POLICY_REGISTRY = _register_policy is not None


def register_permission_policy(model: type, policy: Any) -> None:
    """Register ``policy`` for ``model`` where Wagtail keeps a registry (8.0+).

    On 7.x there is none; the viewset returns the same policy from its ``permission_policy``
    property (see ``SegmentViewSet``), which is what 7.x admin views ask.
    """
    if _register_policy is not None:
        _register_policy(model, policy)


try:  # Wagtail 7.1+
    from wagtail.admin.ui.tables import NumberColumn
except ImportError:  # Wagtail 7.0: the same column, written out.
    from django.contrib.humanize.templatetags.humanize import intcomma
    from wagtail.admin.ui.tables import Column

    class NumberColumn(Column):  # type: ignore[no-redef]
        """A column that shows numbers with locale-aware grouping (Wagtail 7.1's, for 7.0)."""

        def get_cell_context_data(self, instance, parent_context):
            context = super().get_cell_context_data(instance, parent_context)
            context["value"] = intcomma(context["value"])
            return context


def stream_child_id(context: dict, value: Any) -> str | None:
    """The id of the StreamField child whose value is being rendered, or None.

    Wagtail 8.0 puts ``id`` in the context of each StreamField child it renders; 7.x does not,
    so there the child is found among the page's StreamField values by identity (a page's
    template iterates the same ``StreamValue`` whose children hold ``value``). A block nested
    deeper than a StreamField's top level has no id of its own, as on 8.0.
    """
    if context.get("id"):
        return context["id"]
    page = context.get("page")
    if page is None:
        return None
    from wagtail.fields import StreamField  # Wagtail's app registry is ready by render time

    for field in type(page)._meta.concrete_fields:
        if not isinstance(field, StreamField):
            continue
        stream = getattr(page, field.attname, None)
        for child in stream or ():
            if child.value is value:
                return child.id
    return None
