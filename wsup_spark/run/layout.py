"""The output layout of a run: every path a run writes or reads is built here.

::

    <output.path>/
        votes/            Delta table: id, votes, (gold), lf_set_hash, run_id
        labels/           Delta table: id, probs, label, confidence, n_votes, run_id
        train/            Delta table: id, feature columns, probs, n_votes, (gold)
        report.html       the latest run's LF analysis report
        _runs/<run id>/   label_model.json, lf_stats.npz, summary.json, report.html
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

#: Files of one run under ``_runs/<run id>/``.
MODEL_FILE = "label_model.json"
STATS_FILE = "lf_stats.npz"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
TABLES = ("votes", "labels", "train")


def default_run_id() -> str:
    """``YYYYmmddTHHMMSSZ-xxxxxx``: sortable and unique."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class RunLayout:
    """Paths under one ``output.path`` (a local path or a URI; a trailing '/' is dropped).

    Examples
    --------
    >>> lay = RunLayout.at("s3://bucket/wsup/")
    >>> (lay.votes, lay.report, lay.artifacts("r1"))
    ('s3://bucket/wsup/votes', 's3://bucket/wsup/report.html', 's3://bucket/wsup/_runs/r1')
    """

    root: str

    @classmethod
    def at(cls, output_path: str) -> RunLayout:
        """The layout under ``output_path``."""
        return cls(str(output_path).rstrip("/") or "/")

    def table(self, name: str) -> str:
        """Path of the table ``name`` (one of :data:`TABLES`)."""
        return f"{self.root}/{name}"

    @property
    def votes(self) -> str:
        """The votes table."""
        return self.table("votes")

    @property
    def labels(self) -> str:
        """The labels table."""
        return self.table("labels")

    @property
    def train(self) -> str:
        """The training table."""
        return self.table("train")

    @property
    def report(self) -> str:
        """The latest run's HTML report."""
        return f"{self.root}/{REPORT_FILE}"

    @property
    def runs(self) -> str:
        """The folder holding one folder of artifacts per run."""
        return f"{self.root}/_runs"

    @property
    def manifest(self) -> str:
        """The run manifest, a small Delta table (see :mod:`wsup_spark.run.manifest`)."""
        return f"{self.runs}/_manifest"

    def artifacts(self, run_id: str) -> str:
        """The artifacts folder of ``run_id``."""
        return f"{self.runs}/{run_id}"

    def artifact(self, run_id: str, name: str) -> str:
        """One artifact file of ``run_id`` (e.g. :data:`SUMMARY_FILE`)."""
        return f"{self.artifacts(run_id)}/{name}"
