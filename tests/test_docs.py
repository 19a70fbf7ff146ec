"""The README and docs/ against the code: every setting of inference/settings.py is in docs/api.md's table
with its default, and every relative link points at a file and a heading that exist."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from inference.settings import Settings
from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def settings_rows() -> dict[str, str]:
    """docs/api.md's settings table: variable -> default cell."""
    text = (ROOT / "docs" / "api.md").read_text()
    table = text[text.index("## Settings"):text.index("Read by gunicorn itself")]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([A-Z_]+)` \| ([^|]*) \|", table, re.M)}


def test_every_setting_is_documented_with_its_default():
    rows = settings_rows()
    for field in fields(Settings):
        name = field.name.upper()
        assert name in rows, f"{name} (inference/settings.py) is missing from docs/api.md's settings table"
        default = field.default
        if default is None or default == 0 or default == ():  # unset, or computed: said in words
            continue
        if isinstance(default, float) and default.is_integer():
            default = int(default)
        assert f"`{default}`" in rows[name], f"{name}: default {default!r}, docs/api.md says {rows[name]!r}"
    assert set(rows) == {f.name.upper() for f in fields(Settings)}, "docs/api.md lists a setting the app does not read"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    return {slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    for target in _LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.relative_to(ROOT)} links to {target}: no such heading"
