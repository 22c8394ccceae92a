"""``lusapp report PATIENT -o report.pdf``: the patient report (PDF, one or two A4 pages).

PATIENT is a store patient folder ``<store>/patients/<id>`` (the store is opened read-only: nothing is
written to it, and a store open for writing in the app can be reported) or a plain patient folder.
Exit 0 when written; 2 with one line on stderr for a bad argument or a folder that is not a patient;
1 when the report cannot be written (the line names the file; no partial file is left).
"""

from __future__ import annotations

import argparse
import sys

from lusapp.core.errors import LusError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        print(f"lusapp report: {message} (usage: lusapp report PATIENT -o report.pdf)", file=sys.stderr)
        raise SystemExit(2)


def report_main(argv: list[str]) -> int:
    parser = _Parser(prog="lusapp report", description=__doc__.split("\n\n")[0])
    parser.add_argument("patient", help="store patient folder <store>/patients/<id>, or a plain patient folder")
    parser.add_argument("-o", "--output", required=True, help="PDF file to write")
    args = parser.parse_args(argv)

    from lusapp.report.content import gather_path
    from lusapp.report.pdf import ReportWriteError, write_report

    try:
        content = gather_path(args.patient)
    except LusError as exc:
        print(f"lusapp report: {exc}", file=sys.stderr)
        return 2
    try:
        out = write_report(content, args.output)
    except ReportWriteError as exc:
        print(f"lusapp report: {exc}", file=sys.stderr)
        return 1
    for w in content.warnings:
        print(f"lusapp report: warning: {w}", file=sys.stderr)
    print(out)
    return 0
