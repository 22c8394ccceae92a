"""``lusapp export STORE -o OUT [--deidentify] [--dicom] [--key-file KEY] [--patient ID ...]``.

Writes the dataset folder OUT (docs/export-format.md); progress on stderr, the output folder on stdout.
Exit 0 when written; 2 for a bad argument, store or input (the line names the file); 1 when OUT cannot be
written; 130 when interrupted (Ctrl-C). Nothing is left in OUT unless the export finished.
"""

from __future__ import annotations

import argparse
import logging
import sys

from lusapp.core.errors import LusError

USAGE = "lusapp export STORE -o OUT [--deidentify] [--dicom] [--key-file KEY] [--patient ID ...]"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        print(f"lusapp export: {message} (usage: {USAGE})", file=sys.stderr)
        raise SystemExit(2)


def export_main(argv: list[str]) -> int:
    parser = _Parser(prog="lusapp export", description="Write a store's patients as a dataset folder, plain or "
                     "de-identified (docs/export-format.md).")
    parser.add_argument("store", help="a LUSApp store folder (opened read-only)")
    parser.add_argument("-o", "--output", required=True, help="new or empty folder to write")
    parser.add_argument("--deidentify", action="store_true",
                        help="keyed patient hashes, shifted dates, cleaned DICOM headers, burned-in text blacked out")
    parser.add_argument("--dicom", action="store_true",
                        help="also DICOM SEG of the FINAL masks and an SR of the scores for DICOM zones")
    parser.add_argument("--key-file", help="site key for --deidentify (default: created in the user data folder)")
    parser.add_argument("--patient", action="append", help="export only this patient (repeatable)")
    args = parser.parse_args(argv)

    from lusapp.export.exporter import ExportWriteError, export_store
    from lusapp.logs import log_to_console

    log_to_console()  # progress through logging, shown on stderr as before
    logging.getLogger("highdicom").setLevel(logging.WARNING)  # --dicom: not its per-attribute "copy ..." lines
    log = logging.getLogger(__name__)
    last = [-1]

    def progress(pct: int, msg: str) -> None:
        if pct != last[0]:
            last[0] = pct
            log.info("PROGRESS %d %s", pct, msg)

    try:
        res = export_store(args.store, args.output, args.deidentify, dicom=args.dicom, key_path=args.key_file,
                           patients=args.patient, progress=progress)
    except KeyboardInterrupt:
        print("lusapp export: interrupted; nothing was exported", file=sys.stderr)
        return 130
    except ExportWriteError as exc:
        print(f"lusapp export: {exc}", file=sys.stderr)
        return 1
    except (LusError, KeyError) as exc:
        print(f"lusapp export: {exc}", file=sys.stderr)
        return 2
    for w in res.warnings:
        print(f"lusapp export: warning: {w}", file=sys.stderr)
    if args.dicom and not res.dicom_objects:
        print("lusapp export: --dicom: no DICOM SEG or SR written: none of the exported zones' clips came from a "
              "DICOM file (they are written only for DICOM clips)", file=sys.stderr)
    if args.deidentify:  # the key is what keeps a patient's pseudonym and date shift the same in later exports
        from lusapp.core.errors import display_path
        from lusapp.export.deid import default_key_path

        key = display_path(args.key_file or default_key_path())
        print(f"lusapp export: pseudonyms and date shifts from the site key {key}: keep it private, and use it "
              "for every later export of this site (--key-file)", file=sys.stderr)
    print(res.path)
    return 0
