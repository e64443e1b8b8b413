"""Regenerate README's sample output of ``wsup analyze`` from a real run (never by hand).

    python scripts/readme_samples.py            # run + analyze conf/youtube.yaml, rewrite README
    python scripts/readme_samples.py --check    # exit 1 when README's sample is stale

The sample is the block between ``<!-- sample: wsup analyze conf/youtube.yaml -->`` and
``<!-- /sample -->`` in README.md: the command's output with the columns after ``gold_acc``
left out. ``tests/test_newcomer.py`` runs the same run and compares it with README.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIG = "conf/youtube.yaml"
START = f"<!-- sample: wsup analyze {CONFIG} -->"
END = "<!-- /sample -->"
LAST_COLUMN = "gold_acc"


def sample_block(analyze_output: str, report: str = "./wsup_out/youtube/report.html") -> str:
    """The README block for an ``analyze`` output: the run id line dropped (it changes every run),
    the LF table cut after ``gold_acc``, the report path as README's command writes it."""
    lines = analyze_output.strip("\n").splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.strip().startswith("lf "))
    cut = lines[head].index(LAST_COLUMN) + len(LAST_COLUMN)
    out = []
    for i, ln in enumerate(lines[head:], head):
        if ln.startswith("  report: "):
            ln = f"  report: {report}"
        elif i == head or ln.startswith("  lf_"):
            ln = ln[:cut] + "  ..."
        out.append(ln.rstrip())
    return "```\n" + "\n".join(out) + "\n```"


def readme_block(text: str) -> str:
    """The sample block README.md holds now."""
    m = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    if m is None:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    return m.group(1)


def real_output() -> str:
    """``wsup run`` then ``wsup analyze`` of conf/youtube.yaml (output in a temporary folder)."""
    with tempfile.TemporaryDirectory() as out:
        sets = ["--set", f"output.path={out}"]
        for cmd in ("run", "analyze"):
            proc = subprocess.run(
                [sys.executable, "-m", "wsup_spark.cli", cmd, "--config", CONFIG, *sets],
                cwd=ROOT, capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode != 0:
                raise SystemExit(f"wsup {cmd} failed:\n{proc.stderr[-3000:]}")
        return proc.stdout


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or ``--check``) README's sample; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")
    args = p.parse_args(argv)
    text = README.read_text()
    old, new = readme_block(text), sample_block(real_output())
    if old == new:
        print("README sample is up to date")
        return 0
    if args.check:
        print(f"README sample is stale; run python scripts/readme_samples.py\n{new}")
        return 1
    README.write_text(text.replace(f"{START}\n{old}\n{END}", f"{START}\n{new}\n{END}"))
    print(f"README sample rewritten:\n{new}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
