"""Every package under src/desk (and themes/) is installed, with the stylesheet."""

import tomllib
from pathlib import Path

import desk.themes

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_package_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT / "src").parts)
        for init in (ROOT / "src" / "desk").rglob("__init__.py")
    } | {"desk.themes"}
    assert found == listed


def test_themes_come_from_the_top_level_themes_folder() -> None:
    themes_dir = Path(desk.themes.__file__).parent
    assert themes_dir == ROOT / "themes"
    assert desk.themes.STYLESHEET.is_file()
