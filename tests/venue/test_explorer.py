"""The batch explorer's page and assets: served at /, local only, public routes only, pinned.

The browser end-to-end tests are in test_explorer_browser.py (marker ``browser``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sealbatch.venue.app import create_app
from sealbatch.venue.errors import VenueError
from sealbatch.venue.explorer import STATIC_DIR
from sealbatch.venue.explorer.assets import (
    PACKAGE_DIR,
    VENDOR_DIR,
    VENDORED,
    compare,
    locked_versions,
    vendor,
)
from sealbatch.venue.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OWN_FILES = ("index.html", "explorer.js", "explorer.css")


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'venue.db'}"))
    with TestClient(app) as c:
        yield c


def test_the_page_and_its_assets_are_served_by_the_venue(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assets = [s for s in srcs if s.startswith("/explorer/")]
    assert {"/explorer/explorer.js", "/explorer/vendor/uPlot.iife.min.js"} <= set(assets)
    for path in assets:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.content == (STATIC_DIR / path.removeprefix("/explorer/")).read_bytes()
    # The page is not part of the API's schema.
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_unknown_asset_is_a_404_problem(client: TestClient) -> None:
    r = client.get("/explorer/nothing-here.js")
    assert r.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/explorer/../__init__.py",
        "/explorer/..%2f__init__.py",
        "/explorer/%2e%2e/assets.py",
        "/explorer/vendor/../../package.json",
        "/explorer/..%2f..%2fsettings.py",
    ],
)
def test_the_assets_route_serves_nothing_outside_static(client: TestClient, path: str) -> None:
    """Path tricks reach neither the package's sources nor the venue's settings."""
    r = client.get(path)
    assert r.status_code == 404 or b"import" not in r.content, path
    assert b"operator_key" not in r.content and b"__all__" not in r.content, path


def test_the_page_loads_nothing_from_another_origin() -> None:
    """No CDN, no web fonts: every URL in the page, script and style is local."""
    for name in OWN_FILES:
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text), name
        assert "@import" not in text and "@font-face" not in text, name
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith(("/", "#", "data:")), src
    css = (VENDOR_DIR / "uPlot.min.css").read_text(encoding="utf-8")
    assert "url(" not in css and "@import" not in css


def test_the_page_reads_only_public_routes() -> None:
    """Account data is private: the page never asks for it, nor posts anything."""
    js = (STATIC_DIR / "explorer.js").read_text(encoding="utf-8")
    routes = set(re.findall(r"/v1/([a-z_]+)", js))
    assert routes == {"info", "markets", "batches", "orders", "stream"}
    assert "/v1/accounts" not in js and "account:" not in js  # neither route nor stream topic
    assert re.findall(r"topics: \[([^\]]*)\]", js) == ["this.topic"]
    assert 'new TopicStream("batches"' in js
    assert "method:" not in js and "POST" not in js


def test_vendored_files_match_the_manifest_and_the_lock_file() -> None:
    manifest = json.loads((VENDOR_DIR / "MANIFEST.json").read_text(encoding="utf-8"))
    assert set(manifest) == set(VENDORED)
    locked = locked_versions()
    pinned = json.loads((PACKAGE_DIR / "package.json").read_text(encoding="utf-8"))
    for name, entry in manifest.items():
        data = (VENDOR_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert entry["version"] == locked[entry["package"]], name
        assert pinned["dependencies"][entry["package"]] == entry["version"], name
    banner = (VENDOR_DIR / "uPlot.iife.min.js").read_text(encoding="utf-8")[:80]
    assert f"(v{locked['uplot']})" in banner
    lock = (PACKAGE_DIR / "package-lock.json").read_text(encoding="utf-8")
    assert '"resolved"' not in lock  # no registry address recorded in the repository


@pytest.mark.skipif(
    not (PACKAGE_DIR / "node_modules").is_dir(),
    reason="venue/explorer/node_modules is absent: `make explorer-assets` installs it",
)
def test_vendored_files_equal_a_fresh_npm_install() -> None:
    assert compare(PACKAGE_DIR / "node_modules") == []


def _fake_node_modules(tmp_path: Path, version: str) -> Path:
    (tmp_path / "package-lock.json").write_text(
        json.dumps({"packages": {"node_modules/uplot": {"version": "1.6.32"}}}), encoding="utf-8"
    )
    pkg = tmp_path / "node_modules" / "uplot"
    (pkg / "dist").mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"version": version}), encoding="utf-8")
    for _, inner in VENDORED.values():
        (pkg / inner).write_text(f"contents of {inner} {version}", encoding="utf-8")
    return tmp_path / "node_modules"


def test_vendoring_refuses_a_version_other_than_the_locked_one(tmp_path: Path) -> None:
    """A tampered or stale node_modules never lands in static/vendor/."""
    node_modules = _fake_node_modules(tmp_path, "1.6.99")
    dest = tmp_path / "vendor"
    with pytest.raises(VenueError, match=r"expected version 1\.6\.32"):
        vendor(node_modules, dest)
    assert not any(dest.glob("*")) if dest.exists() else True


def test_vendoring_copies_and_compare_finds_changes(tmp_path: Path) -> None:
    node_modules = _fake_node_modules(tmp_path, "1.6.32")
    dest = tmp_path / "vendor"
    manifest = vendor(node_modules, dest)
    assert set(manifest) == set(VENDORED)
    assert compare(node_modules, dest) == []
    (dest / "uPlot.iife.min.js").write_text("tampered", encoding="utf-8")
    assert compare(node_modules, dest) == [
        f"{dest / 'uPlot.iife.min.js'}: differs from uplot/dist/uPlot.iife.min.js"
    ]


def test_every_static_file_is_package_data() -> None:
    """The page installs with the package (the server extra's venue), not only in a checkout."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "sealbatch.venue.explorer" in conf["tool"]["setuptools"]["packages"]
    globs = conf["tool"]["setuptools"]["package-data"]["sealbatch.venue.explorer"]
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            rel = path.relative_to(PACKAGE_DIR).as_posix()
            assert any(fnmatch.fnmatch(rel, g) for g in globs), rel
