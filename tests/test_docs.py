"""The docs hold together: every relative link and #anchor in README.md and docs/*.md
resolves, every `make <target>` they mention exists, and every setting in .env.example is
described once, in the operator guide's settings reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPERATOR_GUIDE = ROOT / "docs" / "operator-guide.md"

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
MAKE_IN_CODE = re.compile(r"`make[ \t]+([A-Za-z][\w-]*)")
MAKE_TARGET = re.compile(r"^([A-Za-z][\w-]*)[ \t]*:(?!=)", re.M)
ENV_NAME = re.compile(r"^[ \t]*#?[ \t]*([A-Z][A-Z0-9_]+)=", re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markdown dropped, lower case, punctuation removed,
    spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a page, with GitHub's -1, -2 suffixes for repeats."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """Each relative link of the page whose file or #anchor does not exist."""
    text = INLINE_CODE.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    problems = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            problems.append(f"{page.name}: {target}: no file {path_part}")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            problems.append(f"{page.name}: {target}: no heading #{anchor} in {linked.name}")
    return problems


def make_mentions(page: Path) -> set[str]:
    """Targets named as `make <target>` in inline code or in a fenced block."""
    text = page.read_text(encoding="utf-8")
    found = set(MAKE_IN_CODE.findall(text))
    for block in FENCE.finditer(text):
        found |= set(re.findall(r"^[ \t]*make[ \t]+([A-Za-z][\w-]*)", block.group(0), re.M))
    return found


def settings_rows(page: Path) -> list[str]:
    """The setting names that open a table row: | `NAME` | ..."""
    return re.findall(
        r"^\|[ \t]*`([A-Z][A-Z0-9_]+)`[ \t]*\|", page.read_text(encoding="utf-8"), re.M
    )


def test_the_pages_exist():
    names = {page.name for page in PAGES}
    for expected in (
        "README.md",
        "user-guide.md",
        "operator-guide.md",
        "identity.md",
        "benchmarks.md",
        "architecture.md",
    ):
        assert expected in names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_and_anchors_resolve(page):
    assert broken_links(page) == []


def test_the_link_check_fails_on_a_broken_link(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section: with `code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#a-section-with-code) [self](#page) [web](https://example.org)\n"
        "[gone](missing.md) [bad anchor](other.md#nowhere) [bad self](#nope)\n"
        "```\n[in code](not-checked.md)\n```\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md: no file missing.md",
        "page.md: other.md#nowhere: no heading #nowhere in other.md",
        "page.md: #nope: no heading #nope in page.md",
    ]


def test_slugs_follow_github():
    assert slug("Erasure (`make forget`)") == "erasure-make-forget"
    assert slug('When a platform says "not found"') == "when-a-platform-says-not-found"
    assert slug("Settings in ladder.yaml") == "settings-in-ladderyaml"
    assert slug("Recovery: crashes, lost answers, a damaged warehouse") == (
        "recovery-crashes-lost-answers-a-damaged-warehouse"
    )


def test_every_make_target_mentioned_exists():
    targets = set(MAKE_TARGET.findall((ROOT / "Makefile").read_text(encoding="utf-8")))
    assert {"run", "test", "ui", "forget"} <= targets
    missing = {
        f"{page.name}: make {name}"
        for page in PAGES
        for name in make_mentions(page)
        if name not in targets
    }
    assert missing == set()


def test_every_setting_is_in_the_settings_reference_once():
    names = set(ENV_NAME.findall((ROOT / ".env.example").read_text(encoding="utf-8")))
    assert "WAREHOUSE_PATH" in names
    rows = settings_rows(OPERATOR_GUIDE)
    problems = {name: rows.count(name) for name in names if rows.count(name) != 1}
    assert problems == {}, "settings not described exactly once (name: rows)"


def test_no_other_page_describes_a_setting_in_a_table():
    names = set(ENV_NAME.findall((ROOT / ".env.example").read_text(encoding="utf-8")))
    names |= set(settings_rows(OPERATOR_GUIDE))
    elsewhere = {
        f"{page.name}: {name}"
        for page in PAGES
        if page != OPERATOR_GUIDE
        for name in settings_rows(page)
        if name in names
    }
    assert elsewhere == set()
