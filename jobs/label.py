"""spark-submit entry point of the labeling pipeline.

    spark-submit jobs/label.py --config conf/demo.yaml [--incremental] [--set key.path=value ...]

Uses the session spark-submit created (its master and conf); in plain ``python jobs/label.py``
it starts a local one. Thin by design: parse args → pipeline (+ the HTML report).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from wsup_spark.cli import add_config_args, add_run_args, cmd_run, run_job


def build_parser() -> argparse.ArgumentParser:
    """Parser of the label job."""
    p = argparse.ArgumentParser(prog="jobs/label.py", description=__doc__)
    add_config_args(p)
    add_run_args(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pipeline; returns the exit status."""
    return run_job(build_parser(), cmd_run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
