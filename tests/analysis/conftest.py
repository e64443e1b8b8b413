"""Analysis test fixtures: one small demo run (real local Spark, real Delta) and its report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from analysis_helpers import BINS, DEMO_ROWS

from wsup_spark.config import load_config
from wsup_spark.io.delta import read_arrow


@dataclass
class DemoReport:
    """A finished demo run, its report and the tables read back in memory."""

    out: Path
    result: Any
    data: Any
    path: str
    html: str
    L: np.ndarray  # (n, m) votes, sorted by id
    gold: np.ndarray  # (n,) gold, -1 where unknown
    labels: Any  # pandas DataFrame of the labels table, sorted by id


@pytest.fixture(scope="session")
def demo_report(spark, tmp_path_factory) -> DemoReport:
    from wsup_spark.analysis.report import write_report_data
    from wsup_spark.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("analysis_demo")
    cfg = load_config("conf/demo.yaml", [f"source.n_rows={DEMO_ROWS}", f"output.path={out}",
                                         "source.num_partitions=2", "run_id=an-1",
                                         "output.training_table=false"])  # fmt: skip
    result = run_pipeline(cfg, spark)
    data, path = write_report_data(result, spark, bins=BINS)
    votes = read_arrow(result.votes_path, result.votes_version).to_pandas().sort_values("id")
    labels = read_arrow(result.labels_path, result.labels_version).to_pandas().sort_values("id")
    L = np.stack(votes["votes"].to_numpy()).astype(np.int64)
    gold = votes["gold"].fillna(-1).to_numpy().astype(np.int64)
    return DemoReport(out, result, data, path, Path(path).read_text(), L, gold,
                      labels.reset_index(drop=True))  # fmt: skip
