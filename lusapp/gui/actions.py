"""The one factory for QActions: text, shortcuts and tooltips come from ``resources/config/shortcuts.json``.

A user file ``<user data>/shortcuts.json`` in the same format overrides the ``keys`` (or ``text``) of any
action by id. Widgets never hard-code key sequences: they ask :class:`ActionFactory` for an action by id
and connect its ``triggered`` signal.

Config format::

    {"format": "lusapp-shortcuts", "format_version": 1,
     "actions": {"frame.next": {"text": "Next frame", "keys": ["Right"], "tip": "..."}, ...}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence

from lusapp.core.errors import ValidationError
from lusapp.resources import resource, user_data_dir

FORMAT = "lusapp-shortcuts"


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    keys: tuple[str, ...]
    tip: str = ""


def default_config_path() -> Path:
    return resource("config", "shortcuts.json")


def user_config_path() -> Path:
    return user_data_dir() / "shortcuts.json"


def _parse(doc: object, where: str) -> dict[str, ActionSpec]:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValidationError(where, f"not a shortcuts file (expected \"format\": \"{FORMAT}\")")
    actions = doc.get("actions")
    if not isinstance(actions, dict):
        raise ValidationError(f"{where}: actions", "must be an object mapping action ids to {text, keys}")
    out: dict[str, ActionSpec] = {}
    for aid, spec in actions.items():
        if not isinstance(spec, dict):
            raise ValidationError(f"{where}: actions.{aid}", "must be an object with text and keys")
        text = spec.get("text", aid)
        keys = spec.get("keys", [])
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(text, str) or not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ValidationError(f"{where}: actions.{aid}", "text must be a string and keys a list of strings")
        for k in keys:
            if k and QKeySequence(k).isEmpty():
                raise ValidationError(f"{where}: actions.{aid}.keys", f"{k!r} is not a key sequence")
        out[aid] = ActionSpec(aid, text, tuple(keys), str(spec.get("tip", "")))
    return out


def _read(path: Path) -> dict[str, ActionSpec]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(str(path), f"cannot read shortcuts file ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise ValidationError(str(path), f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    return _parse(doc, str(path))


def load_specs(path: Path | None = None, user_path: Path | None = None) -> dict[str, ActionSpec]:
    """Built-in specs, with the user's overrides (when that file exists) merged per action id."""
    specs = _read(path or default_config_path())
    upath = user_path if user_path is not None else user_config_path()
    if upath.is_file():
        for aid, spec in _read(upath).items():
            base = specs.get(aid)
            specs[aid] = ActionSpec(aid, spec.text if spec.text != aid or base is None else base.text,
                                    spec.keys, spec.tip or (base.tip if base else ""))
    return specs


def check_conflicts(specs: dict[str, ActionSpec]) -> list[str]:
    """Human-readable lines for key sequences bound to more than one action."""
    seen: dict[str, str] = {}
    problems = []
    for spec in specs.values():
        for k in spec.keys:
            norm = QKeySequence(k).toString(QKeySequence.SequenceFormat.PortableText)
            if norm in seen:
                problems.append(f"{k} is bound to both {seen[norm]} and {spec.id}")
            else:
                seen[norm] = spec.id
    return problems


def load_specs_checked(path: Path | None = None, user_path: Path | None = None) -> tuple[dict[str, ActionSpec], str]:
    """(specs, problem) for start-up: the built-in specs with the user's overrides, or the built-in specs alone
    when the user's file is unreadable or binds one key to two actions (Qt fires neither of an ambiguous pair);
    ``problem`` says which file and what is wrong ('' when none)."""
    upath = user_path if user_path is not None else user_config_path()
    builtin = _read(path or default_config_path())
    try:
        specs = load_specs(path, upath)
    except ValidationError as exc:
        return builtin, f"Your shortcuts file was ignored: {exc}. The built-in shortcuts are used."
    conflicts = check_conflicts(specs)
    if not conflicts:
        return specs, ""
    return builtin, (f"Your shortcuts file {upath} was ignored: " + "; ".join(conflicts)
                     + ". Give each key to one action; the built-in shortcuts are used until then.")


class ActionFactory(QObject):
    """Builds (once) and hands out QActions by id; all shortcuts are window-wide."""

    def __init__(self, parent: QObject, specs: dict[str, ActionSpec] | None = None):
        super().__init__(parent)
        self._specs = specs if specs is not None else load_specs()
        self._actions: dict[str, QAction] = {}

    @property
    def specs(self) -> dict[str, ActionSpec]:
        return dict(self._specs)

    def ids(self) -> list[str]:
        return list(self._specs)

    def action(self, aid: str, slot: Callable | None = None, checkable: bool = False) -> QAction:
        """The action ``aid`` (created on first use, parented to the factory's parent)."""
        act = self._actions.get(aid)
        if act is None:
            try:
                spec = self._specs[aid]
            except KeyError:
                raise KeyError(f"no action {aid!r} in the shortcuts config") from None
            act = QAction(spec.text, self.parent())
            act.setObjectName(aid)
            act.setShortcuts([QKeySequence(k) for k in spec.keys if k])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            shown = ", ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)
                              for k in spec.keys if k)
            act.setToolTip(f"{spec.tip or spec.text.replace('&', '')}" + (f"  [{shown}]" if shown else ""))
            act.setStatusTip(spec.tip)
            self._actions[aid] = act
        if checkable:
            act.setCheckable(True)
        if slot is not None:
            act.triggered.connect(slot)
        return act

    def created(self) -> dict[str, QAction]:
        return dict(self._actions)

    def shortcut_table(self) -> list[tuple[str, str]]:
        """(action text, keys) rows for the shortcuts help dialog."""
        rows = []
        for spec in self._specs.values():
            keys = ", ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in spec.keys)
            rows.append((spec.text.replace("&", "").rstrip("…"), keys or "—"))
        return rows
