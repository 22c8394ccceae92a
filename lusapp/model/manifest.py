"""The model bundle's manifest without torch: reading and checking ``manifest.json``, versions, checksums.

Kept apart from ``bundle`` (which needs torch to build the networks) so that listing the installed models
(``lusapp --version``, the registry, the About box) does not pay torch's import time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lusapp.core.errors import BundleError

BUNDLE_FORMAT = "lusapp-model-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
WEIGHTS_NAME = "weights.safetensors"
PREFIXES = ("seg", "zone", "severity")

REQUIRED_KEYS = ("format", "format_version", "name", "version", "created", "input_size", "classes", "scale_id",
                 "architecture", "clinical_features", "training_data", "licences", "metrics", "weights_file",
                 "weights_sha256", "parent_version")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def parse_version(v: str) -> tuple:
    """'1.10.2' -> (1, 10, 2, ...) for ordering; a pre-release suffix sorts before the release."""
    core, _, pre = str(v).partition("-")
    parts = []
    for p in core.split("."):
        if not p.isdigit():
            raise ValueError(f"not a semantic version: {v!r}")
        parts.append(int(p))
    while len(parts) < 3:
        parts.append(0)
    return (*parts, 0 if pre else 1, pre)


def read_manifest(directory: str | Path) -> dict:
    """Parse and check ``manifest.json`` (keys, types); BundleError naming the file on any problem."""
    path = Path(directory) / MANIFEST_NAME
    if not Path(directory).is_dir():
        raise BundleError(directory, "model bundle folder does not exist")
    if not path.is_file():
        raise BundleError(path, "manifest.json is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(path, f"manifest cannot be parsed ({e})") from None
    if not isinstance(manifest, dict):
        raise BundleError(path, "manifest is not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BundleError(path, f"manifest lacks required key(s): {', '.join(missing)}")
    if manifest["format"] != BUNDLE_FORMAT:
        raise BundleError(path, f"not a LUSApp model bundle (format {manifest['format']!r})")
    if not isinstance(manifest["format_version"], int) or manifest["format_version"] > BUNDLE_FORMAT_VERSION:
        raise BundleError(path, f"bundle format version {manifest['format_version']} is newer than this app "
                                f"supports ({BUNDLE_FORMAT_VERSION}); update LUSApp")
    try:
        parse_version(manifest["version"])
    except ValueError as e:
        raise BundleError(path, str(e)) from None
    size = manifest["input_size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise BundleError(path, f"bad input_size {size!r}")
    arch = manifest["architecture"]
    if not isinstance(arch, dict) or not isinstance(arch.get("seg"), dict):
        raise BundleError(path, "architecture lacks the 'seg' network description")
    if Path(str(manifest["weights_file"])).name != str(manifest["weights_file"]):
        raise BundleError(path, f"weights_file must be a plain file name, not {manifest['weights_file']!r}")
    return manifest
