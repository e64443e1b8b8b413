"""Refuse output paths that would destroy or mix up data, before anything is written.

An ``output.path`` is accepted when it is absent, empty, or already holds a wsup output (only the
names wsup writes: the tables, ``_runs`` and ``report.html`` — and ``_runs`` or a table among
them). A folder holding anything else is a user's folder: refused unless
``output.allow_non_empty: true``; a ``report.html`` that wsup did not write (no ``_runs`` beside
it) is refused either way, since every run writes its report there. An output path equal to the
source path, inside it or containing it is always refused (the next run would read its own output
as corpus).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from wsup_spark.errors import ConfigError
from wsup_spark.io.files import as_uri, list_names
from wsup_spark.run.layout import REPORT_FILE, TABLES, RunLayout

OURS = (*TABLES, "_runs", REPORT_FILE, "checkpoints")  # checkpoints: conf/demo.yaml's train:


def check_output_path(
    layout: RunLayout, source_paths: Sequence[str] = (), allow_non_empty: bool = False
) -> None:
    """Raise :class:`ConfigError` when writing to ``layout`` is unsafe (see the module doc)."""
    out = _norm(layout.root)
    for src in source_paths:
        s = _norm(src)
        if out == s or out.startswith(s + "/") or s.startswith(out + "/"):
            raise ConfigError(
                f"output.path {layout.root!r} and source.path {src!r} overlap (one is the other "
                "or inside it): the next run would read its own tables and report as corpus. "
                "Write the output to its own folder"
            )
    names = list_names(layout.root)
    if not names:
        return
    if REPORT_FILE in names and "_runs" not in names:
        raise ConfigError(
            f"output.path {layout.root!r} holds a {REPORT_FILE} that wsup did not write (no _runs "
            "folder beside it) and every run writes its report there; move that file away or "
            "choose another output.path"
        )
    if allow_non_empty:
        return
    foreign = [n for n in names if n not in OURS]
    ours = [n for n in names if n in OURS and n != REPORT_FILE]
    if foreign or not ours:
        shown = ", ".join(foreign or names)
        raise ConfigError(
            f"output.path {layout.root!r} is a non-empty folder that is not a wsup output (it "
            f"holds {shown}); wsup writes the tables votes/, labels/, train/, the folder _runs/ "
            "and report.html there. Choose an empty or new folder, or set "
            "output.allow_non_empty: true to write beside those files"
        )


def _norm(path: str) -> str:
    uri = as_uri(path).rstrip("/")
    if uri.startswith("file://"):
        return "file://" + os.path.realpath(uri[len("file://"):])
    return uri
