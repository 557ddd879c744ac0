"""Finds the hashed assets of the Vite build through its manifest (frontend/dist/.vite/manifest.json).

Pure file reading, no request or ORM: the SPA view asks for the entry's script and styles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENTRY = "index.html"


class FrontendNotBuiltError(Exception):
    """The manifest is missing or has no entry: the frontend was not built (npm run build)."""


@dataclass(frozen=True)
class EntryAssets:
    script: str
    styles: tuple[str, ...]
    preloads: tuple[str, ...]


_cache: dict[Path, tuple[float, EntryAssets]] = {}


def _collect_css(manifest: dict[str, Any], key: str, seen: set[str]) -> list[str]:
    # CSS of statically imported chunks must be linked too, or shared styles go missing.
    if key in seen:
        return []
    seen.add(key)
    chunk = manifest.get(key, {})
    css = list(chunk.get("css", []))
    for imported in chunk.get("imports", []):
        css.extend(c for c in _collect_css(manifest, imported, seen) if c not in css)
    return css


def entry_assets(dist_dir: Path, entry: str = ENTRY) -> EntryAssets:
    """Paths (relative to the static root) of the entry's JS, CSS and preloaded chunks.

    Re-read when the manifest changes on disk, so a rebuild shows without a server restart.
    """
    manifest_path = dist_dir / ".vite" / "manifest.json"
    try:
        mtime = manifest_path.stat().st_mtime
    except FileNotFoundError as exc:
        raise FrontendNotBuiltError(
            f"{manifest_path} is missing: build the frontend (cd frontend && npm ci && npm run build)."
        ) from exc
    cached = _cache.get(manifest_path)
    if cached and cached[0] == mtime:
        return cached[1]
    manifest = json.loads(manifest_path.read_text())
    if entry not in manifest:
        raise FrontendNotBuiltError(f"{manifest_path} has no entry {entry!r}: rebuild the frontend.")
    chunk = manifest[entry]
    assets = EntryAssets(
        script=chunk["file"],
        styles=tuple(_collect_css(manifest, entry, set())),
        preloads=tuple(manifest[i]["file"] for i in chunk.get("imports", []) if i in manifest),
    )
    _cache[manifest_path] = (mtime, assets)
    return assets
