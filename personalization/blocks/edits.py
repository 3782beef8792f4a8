"""Editing a block's variants while an experiment runs on it is allowed; the experiment's log
says who changed it and when (as for snippets, whose saves are logged the same way).

On publish, each block placement of the page that a running or paused experiment uses is
compared with the previously published revision; a changed or removed block is logged.
"""

from __future__ import annotations

import json

from wagtail.fields import StreamField
from wagtail.models import PageLogEntry

from ..experiments.models import Experiment
from ..experiments.services import log_content_edit


def _without_ids(value):
    """Nested children get ids when a revision is saved again: they say nothing of content."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _blocks(content: dict | None, fields: list[str]) -> dict[str, object]:
    """Raw value of every stream child by id, over the page's stream fields."""
    found: dict[str, object] = {}
    for name in fields:
        raw = (content or {}).get(name)
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                continue
        for child in raw or []:
            if isinstance(child, dict) and child.get("id"):
                found[str(child["id"])] = _without_ids(child.get("value"))
    return found


def log_block_edits(page, revision) -> int:
    """Log an edit on every experiment whose block placement this publish changed; returns
    how many entries were written. One query when no experiment runs on the page."""
    prefix = f"page-{page.pk}-"
    watched = {
        placement
        for placements in Experiment.objects.filter(
            status__in=[Experiment.Status.RUNNING, Experiment.Status.PAUSED]
        ).values_list("placements", flat=True)
        for placement in placements or []
        if str(placement).startswith(prefix)
    }
    if not watched or revision is None:
        return 0
    previous = (
        PageLogEntry.objects.filter(page_id=page.pk, action="wagtail.publish")
        .exclude(revision_id=revision.pk)
        .exclude(revision__isnull=True)
        .select_related("revision")
        .order_by("-timestamp", "-pk")
        .first()
    )
    fields = [f.name for f in page._meta.get_fields() if isinstance(f, StreamField)]
    before = _blocks(previous.revision.content if previous else None, fields)
    after = _blocks(revision.content, fields)
    actor = str(revision.user or "")
    touched = 0
    for placement in sorted(watched):
        block_id = placement[len(prefix) :]
        if before.get(block_id) != after.get(block_id):
            touched += log_content_edit(placement, actor=actor)
    return touched
