"""Names of placements: what an experiment's arms choose variants for.

A snippet's placement is its slug. A ``PersonalizedBlock`` in a page's StreamField is
``page-<page id>-<block id>``: StreamField children keep their id across revisions, so the name
survives edits and publishes, and two blocks of one page never share one.
"""

from __future__ import annotations

import re
import uuid

PAGE_BLOCK = re.compile(r"^page-(\d{1,18})-([0-9a-f-]{36})$")


def block_placement(page_id, block_id) -> str | None:
    """The placement name of a block, or None without a saved page or a block id (a block
    rendered outside a page, or one added in an unsaved preview)."""
    if not page_id or not block_id:
        return None
    return f"page-{int(page_id)}-{block_id}"


def parse_block_placement(name: str) -> tuple[int, str] | None:
    """(page id, block id) of a block placement; None for a snippet slug."""
    match = PAGE_BLOCK.match(name or "")
    if match is None:
        return None
    try:
        uuid.UUID(match.group(2))
    except ValueError:
        return None
    return int(match.group(1)), match.group(2)
