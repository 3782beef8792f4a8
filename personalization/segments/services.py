"""Segment services, re-exported from the modules that do each job (kept so that callers and
code written against ``segments.services`` keeps working; new code imports the module; private
helpers stay in their module):

- ``definitions``: validate, save and compile segments (``save_segment``, ``compiled_segments``)
- ``evaluation``: the hot path, one visitor in one request (``visitor_segments``)
- ``membership``: real-time membership after a profile changed (``update_visitor_memberships``)
- ``bulk``: recompute and estimate in SQL (``recompute_segment``, ``estimate_size``)
- ``sizes``: size counts and their daily history (``record_segment_sizes``)
"""

from __future__ import annotations

from .bulk import (
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
    bump_definitions,
    check_references,
    compile_segment,
    compiled_segments,
    definitions_version,
    save_segment,
)
from .evaluation import evaluate, may_personalize, visitor_segments, visitor_snapshot
from .membership import forget_memberships, update_visitor_memberships
from .sizes import record_segment_sizes, record_size

__all__ = [
    "COMPILED_TTL",
    "VERSION_KEY",
    "CompiledSegment",
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
