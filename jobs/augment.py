"""spark-submit entry point of the augmentation job: apply a TF policy to a Delta table.

    spark-submit jobs/augment.py --config conf/augment_demo.yaml [--set key=value ...]
    python jobs/augment.py --config conf/augment_demo.yaml --set copies=4

Uses the session spark-submit created (its master and conf); in plain ``python jobs/augment.py``
it starts a local one. Reads ``input`` (e.g. the pipeline's training table, ``probs`` carried
along), writes ``output`` with the originals, ``copies`` augmented copies per row and lineage
columns (``aug_copy``, ``aug_tfs``, ``aug_policy``) as one commit. See
:mod:`wsup_spark.augment.job` for the config keys.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from wsup_spark.cli import add_augment_args, cmd_augment, run_job


def build_parser() -> argparse.ArgumentParser:
    """Parser of the augment job."""
    p = argparse.ArgumentParser(prog="jobs/augment.py", description=__doc__)
    add_augment_args(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Augment; returns the exit status."""
    return run_job(build_parser(), cmd_augment, argv)


if __name__ == "__main__":
    raise SystemExit(main())
