"""The README is a front page and every page and figure stays reachable from it."""

import re
from pathlib import Path

from ralib.config import project_root

ROOT = project_root()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def links(page: Path) -> list[Path]:
    return [(page.parent / target).resolve() for target in LINK.findall(page.read_text()) if "://" not in target]


def test_every_relative_link_of_the_readme_and_docs_resolves():
    broken = [f"{page.relative_to(ROOT)} -> {target}" for page in PAGES for target in LINK.findall(page.read_text())
              if "://" not in target and not (page.parent / target).exists()]  # fmt: skip
    assert broken == []


def test_every_docs_page_and_every_figure_shown_is_reachable_from_the_readme():
    reached, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in reached:
            continue
        reached.add(page)
        todo += [target for target in links(page) if target.suffix == ".md" and target.exists()]
    unreached = [p.name for p in PAGES if p.resolve() not in reached]
    assert unreached == []
    shown = {t for page in reached for t in links(page) if t.suffix == ".png"}
    assert shown and all(t.parent == (ROOT / "figures").resolve() for t in shown)


def test_the_readme_stays_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) < 250
