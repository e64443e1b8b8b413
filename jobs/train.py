"""Train the end model on the pipeline's training table.

python jobs/train.py --config conf/demo.yaml [--set train.epochs=5]
torchrun --nproc_per_node=2 jobs/train.py --config conf/demo.yaml   # DDP (gloo on CPU)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from wsup_spark.cli import add_config_args, cmd_train, run_job


def build_parser() -> argparse.ArgumentParser:
    """Parser of the train job."""
    p = argparse.ArgumentParser(prog="jobs/train.py", description=__doc__)
    add_config_args(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Train; returns the exit status."""
    return run_job(build_parser(), cmd_train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
