"""The ``wsup`` command line: ``wsup run --config conf/demo.yaml [--set key.path=value ...]``.

The commands import their layers when they run (pyspark ~1 s, torch ~2 s to import), so that
``wsup --help`` and configuration errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from wsup_spark.config import load_config
from wsup_spark.errors import WsupError


def add_config_args(p: argparse.ArgumentParser) -> None:
    """``--config`` and repeated ``--set key.path=value``."""
    p.add_argument("--config", required=True, help="YAML config file (see conf/demo.yaml)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a config value, e.g. --set source.n_rows=10000 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Parser of the ``wsup`` command."""
    parser = argparse.ArgumentParser(prog="wsup", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the labeling pipeline (local Spark unless submitted)")
    add_config_args(run)
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_analyze_parser(sub)
    tr = sub.add_parser("train", help="train the end model on the training table (extra: train)")
    add_config_args(tr)
    return parser


def add_analyze_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``wsup analyze``: LF table + HTML report of the latest run in ``output.path``."""
    an = sub.add_parser(
        "analyze",
        help="LF summary table and HTML report (<output.path>/report.html) of the latest run",
    )
    add_config_args(an)
    an.add_argument("--run-id", default=None, help="report on this run (default: the latest)")
    an.add_argument(
        "--report",
        default=None,
        metavar="PATH",
        help="where to write the HTML report (default: <output.path>/report.html)",
    )
    an.add_argument("--bins", type=int, default=20, help="confidence bins (default 20)")
    an.add_argument("--json", action="store_true", help="print the report's numbers as JSON")


def configure_logging(verbose: bool = False) -> None:
    """Plain log lines on stderr (jobs and the CLI only; the library never configures logging)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_run(args: argparse.Namespace) -> int:
    """``wsup run``: the pipeline, the HTML report next to the labels table, then the summary."""
    from wsup_spark.analysis.report import write_report
    from wsup_spark.analysis.summary import format_summary
    from wsup_spark.pipeline import run_pipeline

    cfg = load_config(args.config, args.overrides)
    result = run_pipeline(cfg)
    report = write_report(result)  # uses the pipeline's active session
    if args.json:
        print(json.dumps({**result.summary(), "report": report}, indent=2))
    else:
        print(format_summary(result))
        print(f"  report: {report}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """``wsup analyze``: LF table and report of a finished run (reads its tables, recomputes
    nothing but the report's reductions)."""
    from wsup_spark.analysis.report import analyze, format_report_summary
    from wsup_spark.spark.session import get_or_create_session

    cfg = load_config(args.config, args.overrides)
    spark = get_or_create_session(cfg.spark.master, cfg.spark.app_name, cfg.spark.conf)
    data, path = analyze(cfg, spark, run_id=args.run_id, path=args.report, bins=args.bins)
    if args.json:
        print(json.dumps({**data.to_dict(), "report": path}, indent=2))
    else:
        print(format_report_summary(data, path))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``wsup train``: see :mod:`wsup_spark.endmodel.cli`."""
    from wsup_spark.endmodel.cli import cmd_train as run_train

    return run_train(args)


COMMANDS = {"run": cmd_run, "analyze": cmd_analyze, "train": cmd_train}


def run_job(
    parser: argparse.ArgumentParser,
    handler: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """Shared ``main`` of the spark-submit/torchrun jobs: parse, configure logging, run, and turn
    a :class:`WsupError` into a message and exit status 2."""
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    try:
        return handler(args)
    except WsupError as e:
        logging.getLogger("wsup").error("%s: %s", type(e).__name__, e)
        print(f"error: {e}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wsup`` console script; returns the exit status."""
    return run_job(build_parser(), lambda args: COMMANDS[args.command](args), argv)


if __name__ == "__main__":
    raise SystemExit(main())
