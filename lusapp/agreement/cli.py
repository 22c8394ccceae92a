"""``lusapp agreement STORE [--json | --csv FILE] [--queue N] [--uncertain]``: agreement between raters (and the model).

The store is opened read-only (nothing is written to it; a store open for writing in the app can be read).
Default output: a summary for the store and per patient, then the review queue. ``--json``: one JSON object
``{"store", "patients", "problems", "queue"}`` on stdout. ``--csv FILE``: one row per number (scope, patient,
measure, a, b, class, n, value) written atomically to FILE. ``--queue N``: at most N queue items (default 10;
0: none); ``--uncertain`` adds the zones nobody has reviewed where the model is unsure (the annotator's "label
next", :mod:`lusapp.agreement.uncertainty`). Exit 0; 2 with one line on stderr for a bad argument or a folder that is not a readable store; 1 when
the CSV file cannot be written.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from lusapp.core.errors import LusError, display_path

PROG = "lusapp agreement"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        print(f"{PROG}: {message} (usage: {PROG} STORE [--json | --csv FILE] [--queue N] [--uncertain])", file=sys.stderr)
        raise SystemExit(2)


def _num(v, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _dice(d: dict) -> str:
    return ", ".join(f"{c} {_num(v)}" for c, v in d.items())


def summary_lines(block: dict, indent: str = "  ") -> list[str]:
    """Human-readable lines of one agreement block (``lusapp.agreement.summary.agreement``)."""
    s, m = block["scores"], block["masks"]
    out = [f"raters: {', '.join(block['raters']) or 'none'}",
           f"zone scores: zones scored {s['zones_scored']}, by several raters {s['zones_with_several_raters']}, "
           f"adjudicated {s['zones_adjudicated']}"]
    for p in s["pairs"]:
        out.append(f"{indent}{p['a']} vs {p['b']}: quadratic kappa {_num(p['kappa_quadratic'])} (n={p['n']}), "
                   f"exact agreement {_num(p['exact_agreement'])}")
    if s["icc"] is not None:
        out.append(f"{indent}Krippendorff alpha (ordinal, all raters) {_num(s['krippendorff_alpha_ordinal'])}; "
                   f"ICC(2,1) {_num(s['icc']['icc2_1'])}, ICC(3,1) {_num(s['icc']['icc3_1'])} "
                   f"(n={s['icc']['n']} zones x {s['icc']['k']} raters)")
    out.append(f"masks: frames labelled {m['labelled_frames']}, by several raters {m['frames_with_several_raters']}, "
               f"adjudicated {m['frames_adjudicated']}")
    for p in m["pairs"]:
        if p["n_frames"]:
            out.append(f"{indent}{p['a']} vs {p['b']} (n={p['n_frames']} frames): Dice {_dice(p['dice'])}")
    if m["b_line_icc"] is not None and m["b_line_icc"]["n"]:
        out.append(f"{indent}B-line count ICC(2,1) {_num(m['b_line_icc']['icc2_1'])} (n={m['b_line_icc']['n']} frames)")
    models = [mv for mv in block["model"] if mv["n_zones"] or mv["n_frames"]]
    if models:
        out.append("model vs raters:")
    for mv in models:
        out.append(f"{indent}model vs {mv['rater']}: quadratic kappa {_num(mv['kappa_quadratic'])}, ICC(2,1) "
                   f"{_num(mv['score_icc2_1'])} (n={mv['n_zones']} zones); Dice {_dice(mv['dice'])} "
                   f"(n={mv['n_frames']} frames); B-line count ICC(2,1) {_num(mv['b_line_icc2_1'])}")
    return out


def queue_lines(queue: list[dict]) -> list[str]:
    out = []
    for i, q in enumerate(queue, 1):
        who = [f"{r} {v}" for r, v in q["scores"].items()] + ([] if q["model"] is None else [f"model {q['model']}"])
        out.append(f"  {i}. {q['patient']} {q['zone']}: {q['reason']} [{', '.join(who)}]")
    return out


def run(store_path: str | Path, queue_limit: int | None = 10, uncertain: bool = False) -> dict:
    """Everything the command reports: ``store_agreement`` plus ``queue`` (raises ``LusError`` for a bad store);
    ``uncertain``: the queue also lists unreviewed zones where the model is unsure."""
    from lusapp.agreement.collect import collect
    from lusapp.agreement.queue import review_queue
    from lusapp.agreement.summary import store_agreement
    from lusapp.store import Store

    with Store.open(store_path, readonly=True) as store:
        ratings = collect(store)
    result = store_agreement(ratings)
    result["queue"] = [q.to_dict() for q in review_queue(ratings, queue_limit, uncertain)]
    return result


def _csv_bytes(result: dict) -> bytes:
    from lusapp.agreement.summary import CSV_HEADER, csv_rows

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    w.writerows(tuple("" if v is None else v for v in row) for row in csv_rows(result))
    return buf.getvalue().encode("utf-8")


def agreement_main(argv: list[str]) -> int:
    parser = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("store", help="a LUSApp store folder")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object on stdout")
    out.add_argument("--csv", metavar="FILE", help="write one row per number to FILE")
    parser.add_argument("--queue", type=int, default=10, metavar="N", help="review queue length (0: none)")
    parser.add_argument("--uncertain", action="store_true",
                        help="the queue also lists zones no rater has reviewed where the model is unsure")
    args = parser.parse_args(argv)
    if args.queue < 0:
        parser.error(f"--queue {args.queue} should be 0 or more")
    if args.csv and not Path(args.csv).parent.is_dir():
        print(f"{PROG}: {display_path(Path(args.csv).parent)}: no such folder for the CSV file", file=sys.stderr)
        return 2
    try:
        result = run(args.store, args.queue, args.uncertain)
    except LusError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: {display_path(args.store)}: cannot be read ({exc.strerror or exc})", file=sys.stderr)
        return 2
    for p in result["problems"]:
        print(f"{PROG}: warning: {p}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
        return 0
    if args.csv:
        from lusapp.store.durable import atomic_write_bytes

        try:
            atomic_write_bytes(args.csv, _csv_bytes(result))
        except LusError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 1
        print(args.csv)
        return 0
    n = result['store']['patients']
    lines = [f"Store {display_path(args.store)}: {n} patient{'' if n == 1 else 's'}"]
    lines += summary_lines(result["store"])
    for pid, block in result["patients"].items():
        lines.append(f"Patient {pid}")
        lines += ["  " + line for line in summary_lines(block)]
    if args.queue:
        lines.append(f"Review queue ({len(result['queue'])} shown, most urgent first)")
        lines += queue_lines(result["queue"]) or ["  nothing to review"]
    print("\n".join(lines))
    return 0
