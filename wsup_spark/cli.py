"""The ``wsup`` command line: ``wsup run --config conf/demo.yaml [--set key.path=value ...]``.

The commands import their layers when they run (pyspark ~1 s, torch ~2 s to import), so that
``wsup --help`` and configuration errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wsup_spark.config import PipelineConfig, load_config
from wsup_spark.errors import WsupError, error_cause

#: Where this process's Spark (JVM) log goes, once :func:`start_session` started a local JVM.
SPARK_LOG: list[Path] = []

TORCH_HINT = (
    'it needs PyTorch, which is not installed here: pip install "wsup-spark[train]" (from a '
    'checkout: pip install -e ".[train]"). To choose the build, install torch first: CPU only: '
    "pip install torch --index-url https://download.pytorch.org/whl/cpu; a CUDA build: the index "
    "of your CUDA version, e.g. --index-url https://download.pytorch.org/whl/cu126 (see "
    "https://pytorch.org/get-started/locally/)"
)


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


def add_run_args(p: argparse.ArgumentParser) -> None:
    """``--json`` and ``--incremental`` (``wsup run`` and ``jobs/label.py``)."""
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--incremental",
        action="store_true",
        help="build on the last run of output.path: apply only new or changed LFs, and every LF "
        "to new rows only (incremental.where/files/delta_versions name them; default: source "
        "ids the votes table lacks). Same as --set incremental.enabled=true",
    )


DESCRIPTION = """\
Weak supervision on Spark: apply labeling functions to a corpus, fit a label
model from their agreements, and write probabilistic labels (Delta tables) and
an HTML report."""

EPILOG = """\
examples:
  wsup run --config conf/demo.yaml
  wsup run --config conf/demo.yaml --set source.n_rows=10000
  wsup run --config conf/demo.yaml --incremental
  wsup analyze --config conf/demo.yaml
  wsup train --config conf/demo.yaml --set train.epochs=5

'wsup COMMAND --help' describes a command; the configuration keys are in
README.md (Configuration) and conf/demo.yaml."""


def build_parser() -> argparse.ArgumentParser:
    """Parser of the ``wsup`` command (plain-text help: no reST markup on the terminal)."""
    parser = argparse.ArgumentParser(
        prog="wsup", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the labeling pipeline (local Spark unless submitted)")
    add_config_args(run)
    add_run_args(run)
    add_analyze_parser(sub)
    tr = sub.add_parser("train", help="train the end model on the training table (extra: train)")
    add_config_args(tr)
    aug = sub.add_parser(
        "augment", help="augment a Delta table with a TF policy (config: conf/augment_demo.yaml)"
    )
    add_augment_args(aug)
    for command in sub.choices.values():  # `wsup run ... -v` as well as `wsup -v run ...`
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help=VERBOSE_HELP)  # fmt: skip
    return parser


def add_augment_args(p: argparse.ArgumentParser) -> None:
    """``--config`` (the augment job's own YAML: :mod:`wsup_spark.augment.job`) and ``--set``."""
    p.add_argument("--config", required=True, help="augment YAML (see conf/augment_demo.yaml)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value, e.g. --set copies=4 --set policy=policy.json (repeatable)",
    )


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


VERBOSE_HELP = "debug logging; Spark's own log and error tracebacks on the terminal"


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
    from wsup_spark.analysis.multitask_report import MultiTaskReportData, format_multitask_summary
    from wsup_spark.analysis.report import write_report_data
    from wsup_spark.analysis.summary import format_summary
    from wsup_spark.pipeline import run_pipeline

    extra = ["incremental.enabled=true"] if getattr(args, "incremental", False) else []
    cfg = load_config(args.config, [*args.overrides, *extra])
    add_import_paths(args.config)
    preflight(cfg)
    result = run_pipeline(cfg, start_session(cfg, getattr(args, "verbose", False)))
    names = cfg.lfs.class_names
    data, report = write_report_data(result, class_names=names)  # the pipeline's session
    if args.json:
        summary = {**result.summary(), "class_names": names and list(names), "report": report}
        print(json.dumps(summary, indent=2))
    else:
        if isinstance(data, MultiTaskReportData):
            print(format_multitask_summary(result, data))
        else:
            print(format_summary(result, names))
        print(f"  report: {report}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """``wsup analyze``: LF table and report of a finished run (reads its tables, recomputes
    nothing but the report's reductions)."""
    from wsup_spark.analysis.report import analyze, format_report_summary

    cfg = load_config(args.config, args.overrides)
    add_import_paths(args.config)
    spark = start_session(cfg, getattr(args, "verbose", False))
    data, path = analyze(cfg, spark, run_id=args.run_id, path=args.report, bins=args.bins)
    if args.json:
        print(json.dumps({**data.to_dict(), "report": path}, indent=2))
    else:
        print(format_report_summary(data, path))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``wsup train``: see :mod:`wsup_spark.endmodel.cli`."""
    load_config(args.config, args.overrides)  # config errors first
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as e:
        raise WsupError(f"wsup train: {TORCH_HINT} ({e})") from None
    from wsup_spark.endmodel.cli import cmd_train as run_train

    return run_train(args)


def add_import_paths(config: str | Path) -> list[str]:
    """Put the config file's folder and the working directory on the import path, so that
    ``lfs.modules: [my_lfs]`` finds ``my_lfs.py`` next to the config or in the current folder
    (no ``PYTHONPATH=.``). Also on ``PYTHONPATH`` for the Python workers of a local Spark started
    afterwards; on a cluster ship LF modules with ``--py-files`` or install them. Returns the
    folders added."""
    folders = list(dict.fromkeys([str(Path(config).resolve().parent), os.getcwd()]))
    added = [f for f in folders if f not in sys.path]
    sys.path[:0] = added
    env = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*folders, *env]))
    return added


def preflight(cfg: PipelineConfig) -> None:
    """What can fail before Spark starts: ``source.path`` exists, the LF modules (every task's,
    with a ``tasks`` section) import, no LF declares a gold column (``source.gold_col`` or a
    task's ``gold_col``), ``output.features`` does not name it, ``output.embedding``'s encoder
    can load."""
    from wsup_spark.analysis.report import configured_lfs
    from wsup_spark.errors import ConfigError
    from wsup_spark.io.sources import GOLD_COL, check_source_path
    from wsup_spark.pipeline import check_encoder_available

    check_source_path(cfg.source)
    check_encoder_available(cfg)
    lfs = configured_lfs(cfg)
    gold = cfg.source.gold_col
    task_gold = {str(t["gold_col"]): str(t["name"]) for t in cfg.tasks.tasks if t.get("gold_col")}
    hidden = ({gold, GOLD_COL} if gold else set()) | set(task_gold)
    for lf in lfs:
        peeks = [c for c in (lf.columns or ()) if c in hidden]
        if peeks:
            where = ", ".join(f"tasks[{task_gold[c]}].gold_col={c!r}" if c in task_gold else
                              f"source.gold_col={gold!r}" for c in peeks)  # fmt: skip
            raise ConfigError(
                f"LF {lf.name!r} reads {peeks}, the gold label ({where}): it is for "
                "evaluation only and hidden from LFs; remove it from the LF's columns="
            )
    leak = [c for c in cfg.output.features if c in task_gold]
    if leak:
        raise ConfigError(
            f"output.features names the task gold column(s) {leak}: the multi-task training "
            "table has each task's gold as gold_<task> already; remove them from output.features"
        )
    if gold:
        if gold in cfg.output.features and gold != GOLD_COL:
            raise ConfigError(
                f"output.features names the gold column {gold!r}: the train table has the gold "
                f"label as {GOLD_COL!r} already; remove it from output.features"
            )


_LOG4J2 = """\
# written by wsup: Spark's log goes to a file instead of the terminal (wsup --verbose: terminal)
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n%ex
"""


def start_session(cfg: PipelineConfig, verbose: bool = False) -> Any:
    """The session of :func:`~wsup_spark.spark.session.get_or_create_session`; when this starts
    a local JVM (no active session, not under spark-submit) and not ``verbose``, Spark's log
    (executor errors, Python worker tracebacks) goes to ``<tmp>/wsup-logs/spark-<time>-<pid>.log``
    instead of the terminal."""
    from wsup_spark.spark.session import get_or_create_session, remote_url

    conf = dict(cfg.spark.conf)
    remote = cfg.spark.remote or remote_url(conf)  # Spark Connect: the server keeps its log
    local = not remote and not os.environ.get("PYSPARK_GATEWAY_PORT") and not _active_spark()
    if not verbose and local:
        logs = Path(tempfile.gettempdir()) / "wsup-logs"
        logs.mkdir(parents=True, exist_ok=True)
        path = (logs / f"spark-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log").resolve()
        props = path.with_suffix(".log4j2.properties")
        props.write_text(_LOG4J2.format(path=path))
        java = f"-Dlog4j2.configurationFile={props.as_uri()}"
        key = "spark.driver.extraJavaOptions"
        conf[key] = f"{conf[key]} {java}" if conf.get(key) else java
        SPARK_LOG[:] = [path]
    return get_or_create_session(cfg.spark.master, cfg.spark.app_name, conf, remote=remote)


def _active_spark() -> bool:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() is not None


_RELAYED = re.compile(r"wsup_spark\.errors\.(\w+): ([^\n]+)")


def error_line(e: BaseException) -> tuple[str, bool]:
    """``(one line, is a wsup error)`` for an exception reaching the command line.

    A wsup error raised inside a Spark task reaches the driver wrapped (a Py4J/Python exception,
    or a :class:`~wsup_spark.errors.WriteError` quoting its cause): its own message is the line.

    >>> error_line(RuntimeError("Job aborted\\nTraceback ...\\nwsup_spark.errors.LFError: LF 'a' "
    ...                         "voted 7 for row id 3"))
    ("LF 'a' voted 7 for row id 3", True)
    """
    text = str(e)
    relayed = _RELAYED.findall(text)
    if relayed:
        line = relayed[-1][1].strip()
        if "nothing was committed" in text and "nothing was committed" not in line:
            line += " (nothing was committed)"
        return line, True
    if isinstance(e, WsupError):
        return " ".join(text.split("\n")), True
    return f"{type(e).__name__}: {error_cause(e)}", False


def cmd_augment(args: argparse.Namespace) -> int:
    """``wsup augment``: see :mod:`wsup_spark.augment.job`."""
    from wsup_spark.augment.job import cmd_augment as run_augment

    return run_augment(args)


COMMANDS = {"run": cmd_run, "analyze": cmd_analyze, "train": cmd_train, "augment": cmd_augment}


def run_job(
    parser: argparse.ArgumentParser,
    handler: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """Shared ``main`` of the spark-submit/torchrun jobs: parse, configure logging, run, and turn
    a :class:`WsupError` into a message and exit status 2."""
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    configure_logging(verbose)
    try:
        return handler(args)
    except Exception as e:
        return report_error(e, verbose)


def report_error(e: Exception, verbose: bool = False) -> int:
    """Print ``error: <one line>`` last on stderr and return the exit status (2: a wsup error,
    1: anything else). The traceback and Spark's log go to the log file (``--verbose``: to the
    terminal, with the error line before and after them)."""
    line, ours = error_line(e)
    sys.stdout.flush()
    details = "".join(traceback.format_exception(e))
    if verbose:
        print(f"error: {line}", file=sys.stderr)
        print(details, file=sys.stderr)
    elif SPARK_LOG or not ours:
        log = SPARK_LOG[0] if SPARK_LOG else _error_log()
        with open(log, "a") as f:
            f.write(f"\n---- wsup: the error's traceback ----\n{details}")
        print(f"(traceback and Spark's log: {log}; --verbose prints them here)", file=sys.stderr)
    print(f"error: {line}", file=sys.stderr)
    return 2 if ours else 1


def _error_log() -> Path:
    fd, name = tempfile.mkstemp(prefix="wsup-error-", suffix=".log")
    os.close(fd)
    return Path(name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wsup`` console script; returns the exit status."""
    return run_job(build_parser(), lambda args: COMMANDS[args.command](args), argv)


if __name__ == "__main__":
    raise SystemExit(main())
