"""The model bundle's manifest without torch: reading and checking ``manifest.json``, versions, checksums.

Kept apart from ``bundle`` (which needs torch to build the networks) so that listing the installed models
(``lusapp --version``, the registry, the About box) does not pay torch's import time.
"""

from __future__ import annotations

import hashlib
import json
import os
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


class ManifestFields:
    """The manifest fields both bundle kinds read the same way (``GraphBundle`` of onnx_bundle.py, torch's
    ``Bundle`` of bundle.py); the class using it holds the parsed manifest as ``self.manifest``."""
    manifest: dict

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def input_size(self) -> tuple[int, int]:
        h, w = self.manifest["input_size"]
        return int(h), int(w)


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


#: Largest manifest read (the bundled one is ~3 KB).
MAX_MANIFEST_BYTES = 1 << 20


def inside(directory: str | Path, path: str | Path) -> Path:
    """``path`` when it resolves inside the bundle folder; a link that leads out of the bundle is refused."""
    real, root = os.path.realpath(path), os.path.realpath(directory)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise BundleError(path, "is a link that leads outside the model bundle; refused")
    return Path(path)


def write_manifest(directory: str | Path, manifest: dict) -> None:
    """Replace the bundle's ``manifest.json`` atomically (a flushed temporary file renamed over it)."""
    path = Path(directory) / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_manifest(directory: str | Path) -> dict:
    """Parse and check ``manifest.json`` (keys, types); BundleError naming the file on any problem."""
    path = Path(directory) / MANIFEST_NAME
    if not Path(directory).is_dir():
        raise BundleError(directory, "model bundle folder does not exist")
    if not path.is_file():
        raise BundleError(path, "manifest.json is missing")
    inside(directory, path)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise BundleError(path, f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, or a 5,000-digit integer
        raise BundleError(path, f"manifest cannot be parsed ({str(e)[:160]})") from None
    except RecursionError:
        raise BundleError(path, "manifest cannot be parsed (JSON nested too deeply)") from None
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
