"""Retrain with the clinicians' corrections: runs ``python -m model_training finetune --store STORE`` in a
QProcess (never on the GUI thread), shows its ``PROGRESS <pct> <msg>`` lines in a progress bar, can cancel,
and on a published model switches the engine to it through the model controller (registry reload).

The final stdout line of finetune is JSON: ``{"published": bool, "version": "...", ...}``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, QTimer, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar,
                               QPushButton, QVBoxLayout, QWidget)

from lusapp.gui.model_ctl import ModelController
from lusapp.gui.session import SessionController

REPO_ROOT = Path(__file__).resolve().parents[2]


def finetune_command(store_root: str | Path, extra: list[str] | tuple[str, ...] = ()) -> tuple[str, list[str]]:
    return sys.executable, ["-m", "model_training", "finetune", "--store", str(store_root), *extra]


def store_counts(store) -> dict:
    """What an open :class:`~lusapp.store.Store` holds for retraining (the keys of
    ``model_training.finetune.store_counts``): patients, FINAL-mask frames and the clips they are in,
    clinician-scored zones and the patients they belong to, patients with a final severity."""
    c = {"patients": 0, "patients_with_severity": 0, "zones_scored": 0, "patients_scored": 0,
         "final_mask_frames": 0, "clips_with_final": 0}
    for pid in store.patient_ids():
        p = store.load_patient(pid)
        c["patients"] += 1
        c["patients_with_severity"] += p.severity.clinician_label is not None
        scored = sum(rec.media is not None and rec.clinician_score is not None for rec in p.zones.values())
        c["zones_scored"] += scored
        c["patients_scored"] += scored > 0
        for zid, rec in p.zones.items():
            if rec.media is None:
                continue
            n = len(store.mask_frames(pid, zid, "final"))
            c["final_mask_frames"] += n
            c["clips_with_final"] += n > 0
    return c


def _n(k: int, one: str, many: str | None = None) -> str:
    return f"{k} {one if k == 1 else (many or one + 's')}"


def describe_store(counts: dict, findings_model: bool) -> tuple[str, list[str], bool]:
    """(what the store holds, one sentence per stage, whether any stage can be retrained)."""
    holds = (f"The store holds {_n(counts['final_mask_frames'], 'frame')} with a corrected (FINAL) mask in "
             f"{_n(counts['clips_with_final'], 'clip')}, {_n(counts['zones_scored'], 'zone')} scored by a clinician "
             f"and {_n(counts['patients_with_severity'], 'patient')} with a final severity "
             f"({_n(counts['patients'], 'patient')} in all).")
    from lusapp.core.retrain_plan import describe_plan, plan_stages

    plan = plan_stages(counts, findings_model)
    return holds, describe_plan(plan), any(s["train"] for s in plan)


def finetune_available() -> tuple[bool, str]:
    """(ok, why not): finetune needs the training package and torchvision, which the frozen app leaves out."""
    import importlib.util

    if getattr(sys, "frozen", False):
        return False, ("this packaged build does not include the training code; run retraining from a source "
                       "install (pip install 'lusapp[train]') on the same store")
    for mod in ("model_training", "torch", "torchvision"):
        if importlib.util.find_spec(mod) is None:
            return False, f"the Python package {mod!r} is not installed (pip install 'lusapp[train]')"
    return True, ""


def parse_line(line: str) -> tuple[str, object]:
    """('progress', (pct, msg)) | ('result', dict) | ('log', line)."""
    s = line.strip()
    if s.startswith("PROGRESS "):
        parts = s.split(" ", 2)
        try:
            return "progress", (max(0, min(100, int(float(parts[1])))), parts[2] if len(parts) > 2 else "")
        except ValueError:
            return "log", s
    if s.startswith("{") and s.endswith("}"):
        try:
            doc = json.loads(s)
        except json.JSONDecodeError:
            return "log", s
        if isinstance(doc, dict) and "published" in doc:
            return "result", doc
    return "log", s


def summarize(doc: dict) -> str:
    """One readable line for finetune's final JSON (never the JSON itself)."""
    if doc.get("error"):
        return f"Result: not published; {doc['error']}"

    def num(v) -> str:
        return f"{v:.3f}" if isinstance(v, (int, float)) else "—"

    head = (f"Published version {doc.get('version')} (from {doc.get('parent_version')})" if doc.get("published")
            else "Not published")
    parts = [head, f"score: active {num(doc.get('score_active'))}, candidate {num(doc.get('score_candidate'))}"]
    if doc.get("trained_on") is not None:
        parts.append(f"trained on {doc['trained_on']} patient(s), held out {len(doc.get('held_out') or [])}")
    if doc.get("held_out_frames"):
        parts.append(f"masks judged on {doc['held_out_frames']} held-out frame(s)")
    if doc.get("reason"):
        parts.append(str(doc["reason"]))
    return "Result: " + "; ".join(parts)


def decision_text(doc: dict) -> str:
    """The publish decision and its numbers in words (finetune's ``decision``, else built from the numbers),
    followed by one sentence per stage (retrained / skipped / kept, and why)."""
    if doc.get("error"):
        return f"Nothing was published: {doc['error']}"
    text = doc.get("decision") or ""
    if not text:
        head = (f"Published version {doc.get('version')}." if doc.get("published")
                else "Not published; the active model stays.")
        sa, sc = doc.get("score_active"), doc.get("score_candidate")
        nums = (f" Held-out score: active {sa:.3f}, candidate {sc:.3f}."
                if isinstance(sa, (int, float)) and isinstance(sc, (int, float)) else "")
        text = head + nums + (f" ({doc['reason']})" if doc.get("reason") else "")
    stages = doc.get("stages") or []
    if stages:
        from lusapp.core.retrain_plan import describe_plan

        try:
            text += "\n" + "\n".join(describe_plan(stages))
        except KeyError:
            pass
    return text


class RetrainDialog(QDialog):
    retrainFinished = Signal(dict)  # the finetune result ({} when it failed or was cancelled)

    def __init__(self, session: SessionController, model: ModelController, parent: QWidget | None = None,
                 command: tuple[str, list[str]] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Retrain with corrections")
        self.setObjectName("retrainDialog")
        self.session, self.model = session, model
        self._command = command
        self.result_doc: dict = {}
        self.proc: QProcess | None = None
        self._buf = ""
        self._errors: list[str] = []  # 'error: <sentence>' lines of finetune's stderr
        self._cancelled = False
        self._kill_timer = QTimer(self, singleShot=True, interval=3000)
        self._kill_timer.timeout.connect(self._kill)
        lay = QVBoxLayout(self)
        store = session.store.root if session.store is not None else "(no store)"
        intro = QLabel(f"<p>Fine-tune the active model (<b>{model.description}</b>) on the clinician-checked masks, "
                       f"scores and severities in the store</p><p><code>{store}</code></p><p>A new model is "
                       "published only if it is at least as good as the current one on held-out data (corrected "
                       "frames kept aside, and held-out patients for scores and severity); the app then switches "
                       "to it.</p>")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.plan_label = QLabel()
        self.plan_label.setObjectName("retrainPlan")
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.plan_label)
        self.can_train = True
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("Ready")
        self.status.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setMinimumHeight(140)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.decision = QLabel()
        self.decision.setObjectName("retrainDecision")
        self.decision.setWordWrap(True)
        self.decision.setTextFormat(Qt.TextFormat.PlainText)
        self.decision.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.decision)
        lay.addWidget(self.log, 1)
        row = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        row.addWidget(buttons)
        lay.addLayout(row)
        self.resize(600, 460)
        self.refresh_plan()
        if command is None:
            ok, why = finetune_available()
            if not ok:
                self.start_button.setEnabled(False)
                self.status.setText(f"Retraining is not available: {why}.")

    def _findings_model(self) -> bool:
        bundle = getattr(self.model.engine, "bundle", None)
        return bool(getattr(bundle, "manifest", {}).get("findings")) if bundle is not None else False

    def refresh_plan(self) -> bool:
        """Show what the store holds and which stages that retrains; False when none can be."""
        store = self.session.store
        if store is None:
            self.plan_label.setText("No store is open.")
            self.can_train = False
        else:
            try:
                holds, lines, self.can_train = describe_store(store_counts(store), self._findings_model())
            except Exception as exc:  # noqa: BLE001 - a damaged patient: say which, keep the dialog usable
                holds, lines, self.can_train = f"The store could not be read completely: {exc}", [], True
            if not self.can_train:
                lines.append("Nothing can be retrained yet: correct the masks of a few frames (they become FINAL) "
                             "and try again.")
            self.plan_label.setText("\n".join([holds, *lines]))
        if self._command is None:  # a stand-in command (tests) is not gated by the store's contents
            self.start_button.setEnabled(self.can_train and not self.running)
        return self.can_train or self._command is not None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.state() != QProcess.ProcessState.NotRunning

    def start(self) -> bool:
        if self.running or not self.start_button.isEnabled():
            return False
        if self.session.store is None:
            self.status.setText("Open a store first.")
            return False
        if self.session.dirty and not self.session.save():
            self.status.setText("Could not save the current patient; not starting.")
            return False
        if not self.refresh_plan():  # counts after the save
            self.status.setText("Nothing to retrain with the data in the store.")
            return False
        program, args = self._command or finetune_command(self.session.store.root)
        self.proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), env.value("PYTHONPATH")])))
        self.proc.setProcessEnvironment(env)
        self.proc.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        self.proc.readyReadStandardOutput.connect(self._read_stdout)
        self.proc.readyReadStandardError.connect(self._read_stderr)
        self.proc.finished.connect(self._on_finished)
        self.proc.errorOccurred.connect(self._on_error)
        self._buf, self._cancelled, self.result_doc, self._errors = "", False, {}, []
        self.decision.clear()
        self.progress.setValue(0)
        self.log.clear()
        self.log.appendPlainText("$ " + " ".join([program, *args]))
        self.status.setText("Starting…")
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.proc.start(program, args)
        return True

    def cancel(self) -> None:
        if not self.running:
            return
        self._cancelled = True
        self.status.setText("Cancelling…")
        self.proc.terminate()
        self._kill_timer.start()  # a child of the dialog: never fires after the dialog is gone

    def _kill(self) -> None:
        if self.running:
            self.proc.kill()

    def _read_stdout(self) -> None:
        self._buf += bytes(self.proc.readAllStandardOutput()).decode("utf-8", "replace")
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            self._handle(line)

    def _read_stderr(self) -> None:
        text = bytes(self.proc.readAllStandardError()).decode("utf-8", "replace").rstrip()
        if text:
            self.log.appendPlainText(text)
            self._errors += [ln[len("error:"):].strip() for ln in text.splitlines() if ln.startswith("error:")]

    def _handle(self, line: str) -> None:
        if not line.strip():
            return
        kind, value = parse_line(line)
        if kind == "progress":
            pct, msg = value
            self.progress.setValue(pct)
            self.status.setText(msg or f"{pct}%")
        elif kind == "result":
            self.result_doc = value
            self.log.appendPlainText(summarize(value))
            return
        self.log.appendPlainText(line.rstrip())

    def _on_error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.status.setText(f"Could not start finetune: {self.proc.errorString()}")
            self._done({})

    def _on_finished(self, code: int, status) -> None:
        self._kill_timer.stop()
        if self._buf:
            self._handle(self._buf)
            self._buf = ""
        self._read_stderr()
        if self._cancelled:
            self.status.setText("Cancelled; the active model is unchanged.")
            self._done({})
        elif code != 0 or status != QProcess.ExitStatus.NormalExit:
            why = self.result_doc.get("error") or (self._errors[-1] if self._errors else "")
            if why:
                self.status.setText(f"Retraining did not finish: {why} The active model is unchanged.")
            elif status != QProcess.ExitStatus.NormalExit:
                self.status.setText("Retraining stopped unexpectedly (the process was ended); the active model is "
                                    "unchanged. The log below has the details.")
            else:
                self.status.setText(f"Retraining failed (exit code {code}); the active model is unchanged. The log "
                                    "below has the details.")
            self._done({})
        elif self.result_doc.get("published"):
            self.progress.setValue(100)
            self.decision.setText(decision_text(self.result_doc))
            self.status.setText(f"Published model {self.result_doc.get('version', '?')}; switching to it…")
            self.model.engineChanged.connect(self._switched)
            self.model.reload()
            self._done(self.result_doc)
        else:
            self.progress.setValue(100)
            if self.result_doc:
                self.decision.setText(decision_text(self.result_doc))
                self.status.setText("No new model published; the active model is unchanged.")
            else:
                self.status.setText("Retraining ended without a result; the active model is unchanged.")
            self._done(self.result_doc)

    def _switched(self, _engine) -> None:
        self.model.engineChanged.disconnect(self._switched)
        self.status.setText(f"Published and now active: {self.model.description}")

    def _done(self, doc: dict) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.retrainFinished.emit(doc)

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.running:
            self.cancel()
            self.proc.waitForFinished(5000)
        super().closeEvent(event)
