"""The ``lusapp`` command.

    lusapp                      the review app on the bundled demo patient
    lusapp PATH                 the review app on a store or a plain patient folder
    lusapp probe FILE...        one JSON line per media file (readable? frames, fps, size, crop)
    lusapp assess PATIENT       severity of a patient (store patient folder or plain folder) as JSON
    lusapp report PATIENT -o report.pdf   the patient report (PDF, 1-2 A4 pages; store patient folder, read-only,
                                or plain folder)
    lusapp export STORE -o OUT [--deidentify] [--dicom]   the store as a dataset folder (docs/export-format.md)
    lusapp agreement STORE [--json | --csv FILE] [--queue N]   agreement between raters and the model, and the
                                review queue (the store is read only)
    lusapp --self-test          headless end-to-end check, one JSON line, exit 0 when all is well
    lusapp --version            app and active model versions

Heavy modules (torch, Qt) are imported only by the sub-command that needs them.
"""

from __future__ import annotations

import sys

from lusapp import __version__

USAGE = __doc__


def _version_text() -> str:
    try:
        from lusapp.model.registry import ModelRegistry

        active = ModelRegistry().active()
        model = f"{active.manifest['name']} {active.version}" if active else "none"
    except Exception as exc:  # noqa: BLE001 - the version must print even when the model registry is broken
        model = f"unavailable ({exc})"
    return f"LUSApp {__version__}\nmodel {model}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE.strip())
        return 0
    if argv and argv[0] in ("-V", "--version"):
        print(_version_text())
        return 0
    if argv and argv[0] == "--self-test":
        from lusapp.selftest import selftest_main

        return selftest_main(argv[1:])
    if argv and argv[0] == "probe":
        from lusapp.io.probe import probe_main

        return probe_main(argv[1:])
    if argv and argv[0] == "assess":
        from lusapp.model.assess_cli import assess_main

        return assess_main(argv[1:])
    if argv and argv[0] == "report":
        from lusapp.report.cli import report_main

        return report_main(argv[1:])
    if argv and argv[0] == "agreement":
        from lusapp.agreement.cli import agreement_main

        return agreement_main(argv[1:])
    if argv and argv[0] == "export":
        from lusapp.export.cli import export_main

        return export_main(argv[1:])
    from lusapp.gui.app import run_gui

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
