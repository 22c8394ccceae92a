"""Model registry: the bundled models (``resources/models``) plus those published into the user's data folder.

Every sub-folder of either place holding a ``manifest.json`` is a candidate bundle. ``versions()`` lists the
valid ones (manifest parses, required keys present, weights file present with the right sha256 -- or, for an
ONNX-only copy without weights, every ONNX graph with the right sha256: lusapp.model.onnx_bundle), sorted by
semantic version then creation time (oldest first); invalid ones go to ``problems`` with the reason, and never
stop the listing. ``active()`` is the newest valid bundle, or the pinned version (argument, else the
``LUSAPP_MODEL_VERSION`` environment variable). When a version exists in both places the user copy wins.
``publish(bundle_dir)`` verifies a bundle and copies it atomically to ``<user_dir>/<name>-<version>/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lusapp.core.errors import BundleError
from lusapp.model.manifest import MANIFEST_NAME, parse_version, read_manifest
from lusapp.resources import resource, user_data_dir

if TYPE_CHECKING:
    from lusapp.model.bundle import Bundle
    from lusapp.model.onnx_bundle import GraphBundle

ENV_MODELS_DIR = "LUSAPP_MODELS_DIR"
ENV_MODEL_VERSION = "LUSAPP_MODEL_VERSION"


@dataclass(frozen=True)
class ModelVersion:
    version: str
    path: Path
    source: str  # 'bundled' | 'user'
    manifest: dict

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", ""))

    def __iter__(self):  # unpacks as (version, path, source, manifest)
        return iter((self.version, self.path, self.source, self.manifest))


def default_user_dir() -> Path:
    env = os.environ.get(ENV_MODELS_DIR)
    return Path(env) if env else user_data_dir() / "models"


def check_bundle_files(directory: Path) -> dict:
    """Cheap validity check (no network build): manifest + weights checksum, or for an ONNX-only copy (no
    weights file) the graphs' checksums. Returns the manifest."""
    from lusapp.model.onnx_bundle import check_weights, read_graphs

    manifest = read_manifest(directory)
    if not check_weights(directory, manifest):
        read_graphs(directory, manifest, verify=True)
    return manifest


class ModelRegistry:
    def __init__(self, bundled_dir: str | Path | None = None, user_dir: str | Path | None = None):
        self.bundled_dir = Path(bundled_dir) if bundled_dir is not None else resource("models")
        self.user_dir = Path(user_dir) if user_dir is not None else default_user_dir()
        self.problems: list[tuple[Path, str]] = []
        self._checked: dict[tuple, dict] = {}

    def _candidates(self) -> list[tuple[Path, str]]:
        out = []
        for source, root in (("bundled", self.bundled_dir), ("user", self.user_dir)):
            if not root.is_dir():
                continue
            for d in sorted(root.iterdir()):
                if d.is_dir() and not d.name.startswith(".") and (d / MANIFEST_NAME).exists():
                    out.append((d, source))
        return out

    def _check(self, d: Path) -> dict:
        """check_bundle_files with a cache keyed by the files' size and mtime (listing stays cheap)."""
        stamp = []
        for name in (MANIFEST_NAME, "weights.safetensors"):
            try:
                st = (d / name).stat()
                stamp.append((st.st_size, st.st_mtime_ns))
            except OSError:
                stamp.append(None)
        key = (str(d.resolve()), tuple(stamp))
        if key not in self._checked:
            self._checked[key] = check_bundle_files(d)
        return self._checked[key]

    def versions(self) -> list[ModelVersion]:
        """Valid bundles, oldest first (semantic version, then created); refreshes ``problems``."""
        self.problems = []
        found: dict[str, ModelVersion] = {}
        for d, source in self._candidates():
            try:
                manifest = self._check(d)
            except BundleError as e:
                self.problems.append((d, str(e)))
                continue
            except OSError as e:
                self.problems.append((d, f"{d}: cannot be read ({e})"))
                continue
            mv = ModelVersion(str(manifest["version"]), d, source, manifest)
            prev = found.get(mv.version)
            if prev is not None:
                if prev.source == source:
                    self.problems.append((d, f"{d}: version {mv.version} also in {prev.path}; ignored"))
                    continue
                if source != "user":
                    continue
            found[mv.version] = mv
        return sorted(found.values(), key=lambda m: (parse_version(m.version), str(m.manifest.get("created", ""))))

    def find(self, version: str) -> ModelVersion | None:
        for mv in self.versions():
            if mv.version == version or f"{mv.name}-{mv.version}" == version:
                return mv
        return None

    def active(self, pin: str | None = None) -> ModelVersion:
        """The pinned (argument, else $LUSAPP_MODEL_VERSION) or newest valid bundle; BundleError if none."""
        pin = pin or os.environ.get(ENV_MODEL_VERSION) or None
        versions = self.versions()
        if pin:
            for mv in versions:
                if mv.version == pin or f"{mv.name}-{mv.version}" == pin:
                    return mv
            known = ", ".join(m.version for m in versions) or "none"
            raise BundleError(self.user_dir, f"pinned model version {pin} is not installed (valid: {known})")
        if not versions:
            detail = "; ".join(msg for _, msg in self.problems[:3])
            raise BundleError(self.bundled_dir, "no valid model bundle installed" + (f" ({detail})" if detail else ""))
        return versions[-1]

    def load_active(self, pin: str | None = None) -> Bundle | GraphBundle:
        """The active bundle opened for the engine: with its ONNX graphs (no torch) when it has them, else
        loaded with torch (lusapp.model.onnx_bundle.open_bundle)."""
        from lusapp.model.onnx_bundle import open_bundle

        return open_bundle(self.active(pin).path)

    def publish(self, bundle_dir: str | Path) -> ModelVersion:
        """Verify ``bundle_dir`` (full load) and copy it to ``user_dir/<name>-<version>/`` atomically.
        Refuses (BundleError) a version already present in either place."""
        from lusapp.model.bundle import load_bundle

        src = Path(bundle_dir)
        bundle = load_bundle(src)
        name, version = bundle.name, bundle.version
        for mv in self.versions():
            if mv.version == version:
                raise BundleError(src, f"model version {version} is already installed at {mv.path}; "
                                       f"publish it under a new version")
        dest = self.user_dir / f"{_safe(name)}-{version}"
        if dest.exists():
            raise BundleError(dest, "destination already exists; publish under a new version")
        self.user_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=self.user_dir))
        try:
            for f in src.iterdir():
                if f.is_file():
                    shutil.copy2(f, tmp / f.name)
            check_bundle_files(tmp)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return ModelVersion(version, dest, "user", read_manifest(dest))


def _safe(name: str) -> str:
    keep = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in name).strip(".")
    return keep or "model"
