"""Add the real-data benchmark and the synthetic zone check to an unpublished bundle's manifest.

    python model_training/recipes/add_metrics.py BUNDLE --realbench WORK/realbench/realbench.json \
        --zonecheck WORK/zonecheck.json --recipe "bash model_training/recipes/v1_2.sh WORK"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--realbench", required=True)
    ap.add_argument("--zonecheck", required=True)
    ap.add_argument("--recipe", required=True)
    args = ap.parse_args(argv)
    path = Path(args.bundle) / "manifest.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    rb = json.loads(Path(args.realbench).read_text(encoding="utf-8"))["summary"]
    m.setdefault("metrics", {})["real_test"] = {k: rb[k] for k in ("part", "split_file", "items", "findings",
                                                                   "zone_score", "score_distribution",
                                                                   "unlike_training_share", "cvat") if k in rb}
    m["metrics"]["synthetic_zone_check"] = json.loads(Path(args.zonecheck).read_text(encoding="utf-8"))
    m["metrics"].pop("real_pocus", None)  # 1.1.0's check on all clips; real_test replaces it
    m["recipe"] = args.recipe
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(m, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
