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
