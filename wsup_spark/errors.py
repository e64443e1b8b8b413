"""One error hierarchy for the whole package.

Every error is a :class:`WsupError` and also a builtin exception of the matching kind, so callers
can catch either ``WsupError`` or e.g. ``ValueError``. Messages name the argument, LF or column,
the offending value, and the fix.
"""

from __future__ import annotations

import re


class WsupError(Exception):
    """Base class of every error raised by wsup_spark."""


class ConfigError(WsupError, ValueError):
    """A configuration value is missing, malformed, or names something that does not exist."""


class LFError(WsupError, ValueError):
    """A labeling function is malformed, returned an invalid vote, or raised."""


class DataError(WsupError, ValueError):
    """The input corpus or a table does not have the expected shape, columns or types."""


class StatsError(WsupError, ValueError):
    """LF statistics are inconsistent (shape mismatch, merging incompatible partials, ...)."""


class ModelError(WsupError, RuntimeError):
    """The label model cannot be fit or used (not fitted, degenerate statistics, ...)."""


class WriteError(WsupError, RuntimeError):
    """Writing or committing a table failed; the table is left at its previous version."""


_JAVA_PACKAGES = ("java.", "javax.", "org.", "scala.", "io.", "com.", "net.", "sun.", "jdk.")
_ERROR_LINE = re.compile(r"^(Caused by: )?([A-Za-z_][\w.$]*(?:Error|Exception|Exit))(?::\s*(.*))?$")
_WORKER_CRASH = "Python worker exited unexpectedly"


def error_cause(e: BaseException) -> str:
    """The one line that says why ``e`` happened, at most 500 characters.

    Spark relays errors as long texts: a Py4J header (``An error occurred while calling
    o76.save.``), Java exception lines, ``Caused by:`` chains and the Python worker's traceback.
    In order of preference: the last Python exception line (what an LF or a task raised), a Java
    line with a Spark error class (``[DATA_SOURCE_NOT_FOUND] …``), the deepest ``Caused by:``, the
    first Java exception line, the first line. A crashed Python worker gets a hint.

    >>> error_cause(RuntimeError("Job aborted\\nTraceback:\\n  ...\\nValueError: row 7 is bad"))
    'ValueError: row 7 is bad'
    >>> error_cause(RuntimeError("An error occurred while calling o105.save.\\n: org.apache."
    ...     "spark.SparkClassNotFoundException: [DATA_SOURCE_NOT_FOUND] Failed to find delta.\\n"
    ...     "\\tat org.apache.spark.Foo.bar(Foo.scala:1)\\nCaused by: java.lang."
    ...     "ClassNotFoundException: delta.DefaultSource"))
    'SparkClassNotFoundException: [DATA_SOURCE_NOT_FOUND] Failed to find delta.'
    """
    lines = [ln.strip().removeprefix(": ").strip() for ln in str(e).splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("at ")]
    python: list[str] = []
    java: list[str] = []
    causes: list[str] = []
    for ln in lines:
        m = _ERROR_LINE.match(ln)
        if m is None or m.group(2).endswith("Py4JJavaError"):
            continue
        name, msg = m.group(2), m.group(3) or ""
        if name.startswith(_JAVA_PACKAGES):
            short = f"{name.rsplit('.', 1)[-1]}: {msg}".rstrip(": ")
            (causes if m.group(1) else java).append(short)
        elif not m.group(1):
            python.append(ln)
    text = str(e)
    if python:
        out = python[-1]
    elif _WORKER_CRASH in text:
        out = (
            "a Python worker crashed (an LF or a library it calls segfaulted, ran out of memory, "
            "or called os._exit); rerun with spark.python.worker.faulthandler.enabled=true to "
            "see where"
        )
    elif classed := [ln for ln in java + causes if re.search(r"\[[A-Z_]+(\.[A-Z_]+)?\]", ln)]:
        out = classed[0]
    elif causes:
        out = causes[-1]
    elif java:
        out = java[0]
    else:
        out = lines[0] if lines else type(e).__name__
    return out[:500]
