"""Every link in README.md and docs/*.md leads somewhere: a relative link names a file inside
the repository, and an anchor names a heading of its page (as GitHub spells heading ids).
Links to other sites are not fetched.

The README's screenshots are written by `make screenshots` (the browser tests) and committed,
so they are files like any other.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

BASE_DIR = Path(__file__).resolve().parents[1]
PAGES = [BASE_DIR / "README.md", *sorted((BASE_DIR / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", flags=re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    # A code span's text may be a link's label ([`x`](y)) but never holds a link itself.
    text = CODE_SPAN.sub("code", text)
    return LINK.findall(text)


def heading_ids(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats -1…"""
    ids: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", page.read_text()), re.M):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in ids:
            n += 1
            candidate = f"{slug}-{n}"
        ids.add(candidate)
    return ids


def test_the_documentation_pages_are_found():
    names = {page.name for page in PAGES}
    assert {"README.md", "gateway.md", "credentials.md", "security.md"} <= names


def test_heading_ids_are_spelled_as_github_does(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Media endpoints: images, speech\n## `PORT` and HOST\n## Examples\n## Examples\n"
    )
    assert heading_ids(page) == {
        "media-endpoints-images-speech",
        "port-and-host",
        "examples",
        "examples-1",
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(BASE_DIR)))
def test_every_link_resolves(page: Path):
    broken = []
    for target in links(page):
        parts = urlsplit(target)
        if parts.scheme in ("http", "https", "mailto"):
            continue
        if parts.scheme or parts.netloc:
            broken.append(f"{target}: not a relative link")
            continue
        path = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
        if not path.is_relative_to(BASE_DIR):
            broken.append(f"{target}: outside the repository")
            continue
        relative = path.relative_to(BASE_DIR).as_posix()
        if not path.exists():
            broken.append(f"{target}: no such file")
            continue
        if parts.fragment and parts.fragment not in heading_ids(path):
            broken.append(f"{target}: no heading #{parts.fragment} in {relative}")
    assert broken == [], f"{page.relative_to(BASE_DIR)}: broken links"


def test_the_readme_links_every_reference_page():
    readme_links = set(links(BASE_DIR / "README.md"))
    for name in (
        "credentials",
        "load-balancing",
        "gateway",
        "provisioning",
        "operations",
        "security",
    ):
        assert f"docs/{name}.md" in readme_links
