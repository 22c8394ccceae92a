"""GUI entry point: ``run_gui(argv) -> exit code``.

What opens:
- no argument: the *session store* ``<user data>/store`` (created on first run). The bundled demo patient
  (``resources/demo``, a plain patient folder) is imported into it on first run, so the demo behaves like
  any patient: corrections autosave and can feed retraining, and the read-only install folder is never
  written. Later runs reopen the last patient.
- a store folder (has ``store.json``): that store (its last or first patient).
- a plain patient folder (``R1.mp4``, ``clinical.json``, ...): imported into the session store, then opened
  (if a patient of that id is already there, the stored one is opened).

Start-up order keeps the window interactive fast: Qt and the widgets first, the window is shown, then
the model (torch) loads in a worker thread.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lusapp.resources import resource, user_data_dir


def session_store_path() -> Path:
    return user_data_dir() / "store"


def demo_folder() -> Path:
    return resource("demo")


def _make_app(argv: list[str]):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from lusapp.gui import theme

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(["lusapp", *argv])
    app.setOrganizationName("LUSApp")
    app.setApplicationName("LUSApp")
    from lusapp import __version__

    app.setApplicationVersion(__version__)
    from PySide6.QtGui import QIcon

    icon = resource("icons", "lusapp.png")
    if icon.is_file():  # title bar, task bar, Alt-Tab (the Windows exe's own icon comes from lusapp.ico)
        app.setWindowIcon(QIcon(str(icon)))
    theme.apply(app)
    return app


def open_target(window, target: str | None) -> None:
    """Open what ``target`` names (see the module doc) in ``window``'s session."""
    from lusapp.core.errors import LusError
    from lusapp.store import open_patient_folder

    session = window.session
    if target:
        path = Path(target).expanduser()
        if (path / "store.json").is_file():
            if session.open_store(path):
                _open_remembered(window, path)
            return
        if not path.exists():
            window.show_error("Cannot open", f"{path}: no such file or folder")
            target = None
        elif not path.is_dir():
            window.show_error("Cannot open", f"{path}: give a store folder or a patient folder, not a file")
            target = None
    store_path = session_store_path()
    is_new = not (store_path / "store.json").exists()
    if not session.open_store(store_path, create=is_new):
        return
    folder = Path(target).expanduser() if target else demo_folder()
    if not target and not is_new:
        if _open_remembered(window, store_path):
            return
    if not folder.is_dir() or not any(folder.iterdir()):
        if target is None and session.list_patients():
            session.open_patient(session.list_patients()[0])
        return
    try:
        pid = open_patient_folder(folder).patient.patient_id
    except (LusError, OSError) as exc:
        window.show_error("Cannot open patient folder", str(exc))
        return
    if pid in session.list_patients():
        session.open_patient(pid)
    else:
        session.import_folder(folder)


def _open_remembered(window, store_path: Path) -> bool:
    session = window.session
    pids = session.list_patients()
    last_store = window.settings.value("session/store", "")
    last = window.settings.value("session/patient", "")
    pid = last if last in pids and Path(str(last_store)) == Path(store_path) else (pids[0] if pids else "")
    return bool(pid) and session.open_patient(pid)


def build_window(settings=None, modal_errors: bool = True):
    from lusapp.gui.main_window import MainWindow

    return MainWindow(settings=settings, modal_errors=modal_errors)


def run_gui(argv: list[str] | str | os.PathLike | None = None) -> int:
    """Start the app on ``argv`` (``[]``: demo; ``[PATH]``: a store or a patient folder). Returns the exit code."""
    if argv is None:
        argv = []
    elif isinstance(argv, (str, os.PathLike)):
        argv = [str(argv)]
    argv = [a for a in argv if a]
    flags = [a for a in argv if a.startswith("-")]
    paths = [a for a in argv if not a.startswith("-")]
    if flags:
        print(f"lusapp: unknown option {flags[0]} (see lusapp --help)", file=sys.stderr)
        return 2
    from lusapp.gui.xcb_check import check_xcb

    if not check_xcb():  # one line saying what to install, instead of Qt's abort
        return 1
    from lusapp.logs import log_to_file

    log_path = log_to_file()
    app = _make_app([])
    if log_path is not None:
        import logging

        logging.getLogger(__name__).info("LUSApp %s started (log %s)", app.applicationVersion(), log_path)
    window = build_window()
    window.show()
    open_target(window, paths[0] if paths else None)
    window.start_model_loading(0)
    app.aboutToQuit.connect(window.shutdown)  # quit without a close event (session end): still save and stop
    return app.exec()
