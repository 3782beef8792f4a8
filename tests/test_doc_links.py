"""Every relative link in the README and docs/ points at a file of this repository: a reader of
a checkout (or of the package's sdist) never follows a link out of it into nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)|`(\.\./[^`\s]+\.md)`")


def _documents():
    yield ROOT / "README.md"
    yield from sorted((ROOT / "docs").glob("*.md"))


def test_relative_links_in_the_docs_resolve_inside_the_repository():
    broken = []
    for document in _documents():
        for match in LINK.finditer(document.read_text()):
            target = (match.group(1) or match.group(2)).split("#")[0]
            if not target or re.match(r"^[a-z]+:", target):
                continue  # an anchor in the same file, or an absolute URL
            resolved = (document.parent / target).resolve()
            if not resolved.exists() or ROOT not in resolved.parents:
                broken.append(f"{document.relative_to(ROOT)}: {target}")
    assert broken == []
