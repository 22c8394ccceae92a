"""The real labelled clips of ``../shared/data`` (POCUS), their groups, licences and the fixed dev/test split.

Nothing here copies data: the items point into the data folder, and only file names are committed (the split
file ``model_training/splits/real_split_v1.csv``, columns ``file,group,part``).

Items (``load_items``): every ``manifest.csv`` row with ``dataset == "pocus"`` (clips and stills, convex and
linear), with the shipped findings (manifest columns; sparse: a 0 often means "not mentioned"), the blind
second reading of ``pocus_reader2.csv`` (dense, convex files only) and the Soldati 0-3 score (72 clips).

Groups (``group_files``): files that may share a patient, a web page or a source video must never sit on
both sides of the split. Two files are in one group (union-find, transitive) when

1. they carry the same manifest ``patient_id``; or
2. they have the same *series key*: the file stem, lower-cased, without the suffixes ``_crop``, ``_trimmed``,
   ``(n)``, ``_example n``, then without a trailing number (with an optional letter: ``Fig15A``, ``vid10``,
   ``_v3``, ``clip2``), then without anything that is not a letter or digit (so ``Cov-Atlas+(44)`` and
   ``Cov-Atlas-+(43)`` meet, and so do a convex and a linear file of one paper); or
3. they belong to the same named source series, whatever their diagnosis prefix: a Northumbria set
   (``northumbria_0409_set3`` of ``Pneu_`` and ``Reg_`` files, ``northumbria_1009``), the prospective study
   files (``*_prospective_file*``), one LITFL case (``liftl*case3``).

The group's name is the smallest series key among its files (stable, readable).

Licences (``trainable``): CC BY and CC BY-NC (any version) may train the research model; share-alike (SA),
"None", the COVID-19 emergency licence and anything unknown are for evaluation only.

Split (``make_split``): groups go to the locked test part (about ``test_fraction`` of the files) or the
development part by a deterministic greedy assignment (seeded group order, largest groups first) that keeps
the test share of every stratum close to ``test_fraction``: the reader2 B-line grade (0-3; "none" for the
linear files it has not read), reader2 consolidation, and the diagnosis label. The split is generated once by
``python -m model_training realbench --make-split`` and committed; no training run, threshold or model choice
may look at the test part.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

FINDINGS = ("b_lines", "a_lines", "consolidation", "pleural_irregular", "effusion")  # = lusapp.model.findings
REPO = Path(__file__).resolve().parents[1]
SPLIT_FILE = REPO / "model_training" / "splits" / "real_split_v1.csv"
SPLIT_SEED = 20240610
READER2_COLUMNS = {"b_lines": "bline", "a_lines": "aline", "consolidation": "consolidation",
                   "pleural_irregular": "pleura_irregular", "effusion": "effusion"}


@dataclass(frozen=True)
class RealItem:
    file: str  # manifest path, relative to the data root
    path: Path  # absolute path
    group: str  # grouping key: one patient / web page / source video never on both sides
    licence: str
    probe: str  # "convex" | "linear" | ""
    kind: str  # "video" | "image"
    label: str  # diagnosis label of the manifest
    shipped: dict = field(hash=False)  # FINDINGS -> 0/1/None
    reader2: dict = field(hash=False)  # FINDINGS -> 0/1/None, b_line_grade, lus_score, confidence; {} when unread
    soldati: int | None  # manifest lus_score (0-3)
    part: str  # "dev" | "test" | "" (outside the split)


def default_root() -> Path:
    """``<repo>/../shared/data``."""
    return REPO.parent / "shared" / "data"


def _int(v) -> int | None:
    v = (v or "").strip()
    try:
        return int(float(v)) if v else None
    except ValueError:
        return None


_SUFFIXES = re.compile(r"(_crop|_trimmed|\s*\(\d+\)|[_ ]example[_ ]?\d*)$", re.I)


def series_key(file: str) -> str:
    """Rule 2 of the module docstring: the stem without copy / crop / numbering suffixes, letters and digits only."""
    stem = Path(file).stem.lower()
    prev = None
    while prev != stem:
        prev = stem
        stem = _SUFFIXES.sub("", stem).rstrip("_-+ ")
    stem = re.sub(r"\d+[a-z]?$", "", stem)
    key = re.sub(r"[^a-z0-9]", "", stem)
    return key or Path(file).stem.lower()


def source_series(file: str) -> str | None:
    """Rule 3: a named source series shared across diagnosis prefixes, or None."""
    stem = Path(file).stem.lower()
    m = re.search(r"northumbria_(\d+)(_set\d+)?", stem)
    if m:
        return "northumbria_" + m.group(1) + (m.group(2) or "")
    if "prospective_file" in stem:
        return "prospective_file"
    m = re.search(r"lif?tl.*?case(\d+)", stem)
    if m:
        return f"litfl_case{m.group(1)}"
    return None


def group_files(rows: list[dict]) -> dict[str, str]:
    """file -> group name for manifest rows (keys ``file`` and ``patient_id``), by the rules of the docstring."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for r in rows:
        f = r["file"]
        find("f:" + f)
        union("f:" + f, "k:" + series_key(f))
        pid = (r.get("patient_id") or "").strip()
        if pid:
            union("f:" + f, "p:" + pid)
        s = source_series(f)
        if s:
            union("f:" + f, "s:" + s)
    names: dict[str, str] = {}
    for r in rows:
        root = find("f:" + r["file"])
        k = series_key(r["file"])
        names[root] = min(names.get(root, k), k)
    return {r["file"]: names[find("f:" + r["file"])] for r in rows}


def trainable(item) -> bool:
    """CC BY / CC BY-NC (any version) may train; share-alike, "None", emergency and unknown: evaluation only."""
    lic = (item.licence if hasattr(item, "licence") else str(item)).strip().upper()
    if not lic.startswith("CC BY") or "SA" in re.split(r"[^A-Z]+", lic):
        return False
    rest = re.sub(r"[\d.\s]+$", "", lic[len("CC BY"):]).replace(" ", "")
    return rest in ("", "-NC")


def read_split(path: Path | str = SPLIT_FILE) -> dict[str, tuple[str, str]]:
    """file -> (group, part) of a split file; {} when it is absent."""
    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["file"]: (r["group"], r["part"]) for r in csv.DictReader(fh)}


def write_split(items: list[RealItem], split: dict[str, str], path: Path | str = SPLIT_FILE) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "group", "part"])
        for it in sorted(items, key=lambda i: i.file):
            w.writerow([it.file, it.group, split[it.file]])
    return path


def load_items(root: Path | str | None = None, split_file: Path | str | None = SPLIT_FILE) -> list[RealItem]:
    """The POCUS items of the data folder (``[]`` when it or its manifest is absent), with the committed split."""
    root = Path(root) if root is not None else default_root()
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        return []
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("dataset") == "pocus"]
    reader2: dict[str, dict] = {}
    r2_path = root / "pocus_reader2.csv"
    if r2_path.is_file():
        with open(r2_path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                grade = _int(r.get("bline"))
                d = {k: _int(r.get(c)) for k, c in READER2_COLUMNS.items()}
                d["b_lines"] = None if grade is None else int(grade >= 1)
                d.update(b_line_grade=grade, lus_score=_int(r.get("lus_score")),
                         confidence=(r.get("confidence") or "").strip())
                reader2[r["file"]] = d
    groups = group_files(rows)
    split = read_split(split_file) if split_file else {}
    items = []
    for r in rows:
        f = r["file"]
        shipped = {k: (v if v in (0, 1) else None) for k in FINDINGS for v in [_int(r.get(k))]}
        items.append(RealItem(file=f, path=(root / f).resolve(), group=groups[f], licence=(r.get("license") or "").strip(),
                              probe=(r.get("probe") or "").strip(), kind=_kind(r.get("kind")),
                              label=(r.get("label") or "").strip(), shipped=shipped, reader2=reader2.get(f, {}),
                              soldati=_int(r.get("lus_score")), part=split.get(f, ("", ""))[1]))
    return items


def _kind(v) -> str:
    v = (v or "").strip().lower()
    return "image" if v in ("image", "still") else v  # the manifest calls 3 linear stills "still"


def strata(item: RealItem) -> tuple[str, ...]:
    """The stratification features of an item (each balanced on its own)."""
    g = item.reader2.get("b_line_grade") if item.reader2 else None
    c = item.reader2.get("consolidation") if item.reader2 else None
    return (f"bgrade={'none' if g is None else g}", f"cons={'none' if c is None else c}", f"label={item.label}")


def make_split(items: list[RealItem], test_fraction: float = 0.4, seed: int = SPLIT_SEED) -> dict[str, str]:
    """file -> "dev" | "test": whole groups, test share of every stratum near ``test_fraction``, deterministic."""
    by_group: dict[str, list[RealItem]] = {}
    for it in sorted(items, key=lambda i: i.file):
        by_group.setdefault(it.group, []).append(it)
    names = sorted(by_group)
    random.Random(seed).shuffle(names)
    names.sort(key=lambda g: -len(by_group[g]))  # stable: the seeded order within one size
    total: dict[str, int] = {}
    for it in items:
        for s in strata(it):
            total[s] = total.get(s, 0) + 1
    n_all = len(items)
    test: dict[str, int] = {}
    n_test = n_seen = 0
    seen: dict[str, int] = {}
    out: dict[str, str] = {}
    for g in names:
        members = by_group[g]
        add: dict[str, int] = {}
        for it in members:
            for s in strata(it):
                add[s] = add.get(s, 0) + 1
        for s, v in add.items():
            seen[s] = seen.get(s, 0) + v
        n_seen += len(members)

        def cost(to_test: bool) -> float:
            # deviation from the target share over the items placed so far (per stratum and overall)
            c = 0.0
            for s in seen:
                t = test.get(s, 0) + (add.get(s, 0) if to_test else 0)
                c += (t - test_fraction * seen[s]) ** 2 / max(total[s], 1)
            nt = n_test + (len(members) if to_test else 0)
            return c + 4.0 * (nt - test_fraction * n_seen) ** 2 / max(n_all, 1)

        to_test = cost(True) < cost(False)
        if to_test:
            for s, v in add.items():
                test[s] = test.get(s, 0) + v
            n_test += len(members)
        for it in members:
            out[it.file] = "test" if to_test else "dev"
    return out
