"""README.md's route table names every HTTP route the venue serves (OpenAPI paths)."""

from __future__ import annotations

import re
from pathlib import Path

from sealbatch.venue.app import create_app

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_routes() -> set[str]:
    """The paths of the README's route table: `…/x` is x beside the last full path."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| route | what |") :]
    table = table[: table.index("\n\n")]
    routes: set[str] = set()
    base = ""
    for cell in (line.split("|")[1] for line in table.splitlines()[2:]):
        for token in re.findall(r"`([^`]*)`", cell):
            path = token.split()[-1]
            if path.startswith("/"):
                base = path
                routes.add(path)
            elif path.startswith("…/"):
                routes.add(base.rsplit("/", 1)[0] + path.removeprefix("…"))
    return routes


def test_the_readme_names_every_route() -> None:
    served = {
        re.sub(r"\{(batch|rfq|market)_id\}", "{id}", path)
        for path in create_app().openapi()["paths"]
    }
    missing = sorted(served - _readme_routes())
    assert not missing, f"routes the README's table does not name: {missing}"
