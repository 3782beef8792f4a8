"""Segment services, re-exported from the modules that do each job (kept so that callers and
branches written against ``segments.services`` keep working; new code imports the module):

- ``definitions``: validate, save and compile segments (``save_segment``, ``compiled_segments``)
- ``evaluation``: the hot path, one visitor in one request (``visitor_segments``)
- ``membership``: real-time membership after a profile changed (``update_visitor_memberships``)
- ``bulk``: recompute and estimate in SQL (``recompute_segment``, ``estimate_size``)
- ``sizes``: size counts and their daily history (``record_segment_sizes``)
"""

from __future__ import annotations

from .bulk import (
    _announce_bulk,
    _insert_members,
    _member_qs,
    estimate_size,
    progress_recorder,
    recompute_segment,
    recompute_segment_by_id,
    recompute_segments_using,
    recompute_time_dependent,
)
from .definitions import (
    COMPILED_TTL,
    VERSION_KEY,
    CompiledSegment,
    _dependency_order,
    _leaves,
    bump_definitions,
    check_references,
    compile_segment,
    compiled_segments,
    definitions_version,
    save_segment,
)
from .evaluation import evaluate, may_personalize, visitor_segments, visitor_snapshot
from .membership import _announce, forget_memberships, update_visitor_memberships
from .sizes import record_segment_sizes, record_size

_record_size = record_size

__all__ = [
    "COMPILED_TTL",
    "VERSION_KEY",
    "CompiledSegment",
    "_announce",
    "_announce_bulk",
    "_dependency_order",
    "_insert_members",
    "_leaves",
    "_member_qs",
    "_record_size",
    "bump_definitions",
    "check_references",
    "compile_segment",
    "compiled_segments",
    "definitions_version",
    "estimate_size",
    "evaluate",
    "forget_memberships",
    "may_personalize",
    "progress_recorder",
    "recompute_segment",
    "recompute_segment_by_id",
    "recompute_segments_using",
    "recompute_time_dependent",
    "record_segment_sizes",
    "record_size",
    "save_segment",
    "update_visitor_memberships",
    "visitor_segments",
    "visitor_snapshot",
]
