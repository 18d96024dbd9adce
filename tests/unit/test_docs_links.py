"""The README and docs/ are all a clone has: every relative link resolves
inside the repository, and nothing points at the contract's source outside
it (docs/CONTRACT.md is the users' copy)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    broken = []
    for target in LINK.findall(document.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (document.parent / target.split("#")[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_nothing_names_a_document_outside_the_repository(document: Path) -> None:
    text = document.read_text()
    assert "../shared" not in text
    assert "SPEC.md" not in text


def test_the_contract_is_in_docs_and_the_readme_links_it() -> None:
    assert (ROOT / "docs" / "CONTRACT.md").exists()
    assert "(docs/CONTRACT.md)" in (ROOT / "README.md").read_text()
