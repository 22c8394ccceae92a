"""Subcommand dispatcher of ``python -m model_training``.

Add a subcommand by adding one line to :data:`SUBCOMMANDS`: ``name -> "module:function"``; the function
takes the remaining argv (list of str) and returns an exit code. Subcommands report progress with
``logging`` (``logging.getLogger(__name__).info``), shown on stderr as plain lines; stdout carries results.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, str] = {
    "synth": "model_training.synth.cli:main",
    "realism": "model_training.realism:main",
    "train": "model_training.train:main",
    "evaluate": "model_training.evaluate:main",
    "ablate": "model_training.ablate:main",
    "finetune": "model_training.finetune:main",
    "pocus": "model_training.pocus_check:main",
    "realbench": "model_training.realbench:main",
    "propcheck": "model_training.propagation_check:main",
    "findings": "model_training.findings_train:main",
    "zonecheck": "model_training.zone_check:main",
    "contactsheet": "model_training.contact_sheet:main",
    "severity": "model_training.severity_findings:main",
    "export-onnx": "model_training.export_onnx:main",
    "quantize": "model_training.quantize_study:main",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        names = ", ".join(sorted(SUBCOMMANDS))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"unknown subcommand {argv[0]!r}; choose one of: {names}", file=sys.stderr)
        else:
            print(f"usage: python -m model_training <subcommand> [options]\nsubcommands: {names}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from lusapp.logs import log_to_console

    log_to_console()  # progress of every subcommand: logging records as plain lines on stderr
    module, func = SUBCOMMANDS[argv[0]].split(":")
    return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
