"""Vendor the explorer's front-end packages from ``node_modules`` into ``static/vendor/``.

``make explorer-assets`` installs the exact versions pinned by
``venue/explorer/package-lock.json`` with ``npm ci`` and runs
``python -m sealbatch.venue.explorer.assets vendor``; the copies are committed,
so the venue serves them with no npm and no network at run time.
``... assets check`` compares the committed copies with a fresh install.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sealbatch.venue.errors import VenueError

__all__ = ["PACKAGE_DIR", "VENDORED", "VENDOR_DIR", "compare", "locked_versions", "vendor"]

#: Where package.json and package-lock.json live (npm runs here).
PACKAGE_DIR = Path(__file__).resolve().parent
VENDOR_DIR = PACKAGE_DIR / "static" / "vendor"

#: Vendored file name -> (npm package, path inside the package).
VENDORED: dict[str, tuple[str, str]] = {
    "uPlot.iife.min.js": ("uplot", "dist/uPlot.iife.min.js"),
    "uPlot.min.css": ("uplot", "dist/uPlot.min.css"),
    "uPlot.LICENSE": ("uplot", "LICENSE"),
}

MANIFEST = "MANIFEST.json"


def locked_versions(package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """Package name -> version pinned in ``package-lock.json``.

    Raises:
        VenueError: the lock file is missing or not an npm v2/v3 lock file.
    """
    path = package_dir / "package-lock.json"
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
        packages = lock["packages"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VenueError(f"{path}: expected an npm lock file, got {exc}") from exc
    return {
        key.removeprefix("node_modules/"): str(entry["version"])
        for key, entry in packages.items()
        if key.startswith("node_modules/")
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendor(node_modules: Path, dest: Path = VENDOR_DIR) -> dict[str, dict[str, str]]:
    """Copy the vendored files out of ``node_modules`` and write ``MANIFEST.json``.

    Returns:
        the manifest: file name -> package, version, source path and sha256.

    Raises:
        VenueError: a package is missing from ``node_modules`` or its version is not
            the locked one.
    """
    locked = locked_versions(node_modules.parent)
    manifest: dict[str, dict[str, str]] = {}
    dest.mkdir(parents=True, exist_ok=True)
    for name, (package, inner) in sorted(VENDORED.items()):
        src = node_modules / package / inner
        meta = node_modules / package / "package.json"
        if not src.is_file() or not meta.is_file():
            raise VenueError(f"{src}: expected a file (run npm ci first), got nothing")
        version = str(json.loads(meta.read_text(encoding="utf-8"))["version"])
        if version != locked.get(package):
            raise VenueError(
                f"{package}: expected version {locked.get(package)} (package-lock.json), "
                f"got {version} in node_modules"
            )
        (dest / name).write_bytes(src.read_bytes())
        manifest[name] = {
            "package": package,
            "version": version,
            "source": inner,
            "sha256": _sha256(dest / name),
        }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def compare(node_modules: Path, dest: Path = VENDOR_DIR) -> list[str]:
    """Differences between the committed copies and ``node_modules`` (empty: the same)."""
    problems = []
    for name, (package, inner) in sorted(VENDORED.items()):
        src, copy = node_modules / package / inner, dest / name
        if not src.is_file():
            problems.append(f"{src}: missing from node_modules")
        elif not copy.is_file():
            problems.append(f"{copy}: missing from the vendored files")
        elif src.read_bytes() != copy.read_bytes():
            problems.append(f"{copy}: differs from {package}/{inner}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sealbatch.venue.explorer.assets")
    ap.add_argument("action", choices=("vendor", "check"))
    ap.add_argument("--node-modules", type=Path, default=PACKAGE_DIR / "node_modules")
    args = ap.parse_args(argv)
    try:
        if args.action == "vendor":
            for name, entry in vendor(args.node_modules).items():
                print(f"vendored {name} from {entry['package']}@{entry['version']}")
            return 0
    except VenueError as exc:
        print(f"explorer assets: error: {exc}", file=sys.stderr)
        return 2
    problems = compare(args.node_modules)
    for p in problems:
        print(f"explorer assets: {p}", file=sys.stderr)
    if not problems:
        print("explorer assets: the vendored files match package-lock.json")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
