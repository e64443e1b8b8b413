"""The numbers of one LF analysis report (driver-side, small): :class:`ReportData`, shared by
:mod:`~wsup_spark.analysis.report` (which collects them) and :mod:`~wsup_spark.analysis.html`
(which renders them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from wsup_spark.analysis.diagnostics import ConfidenceHistogram, GoldDiagnostics
from wsup_spark.analysis.summary import CorpusSummary
from wsup_spark.json_values import jsonable
from wsup_spark.stats.lfstats import LFStats


@dataclass
class ReportData:
    """Everything the report shows (driver-side, small). See :meth:`to_dict` for the JSON form
    embedded in the HTML (``<script id="wsup-report-data">``)."""

    run_id: str
    lf_names: list[str]
    k: int
    class_names: list[str]
    stats: LFStats
    corpus: CorpusSummary
    lf_rows: list[dict[str, Any]]
    overlap: np.ndarray
    conflict: np.ndarray
    label_model: str
    class_balance: np.ndarray | None
    histogram: ConfidenceHistogram | None
    gold: GoldDiagnostics | None
    tables: dict[str, dict[str, Any]]
    fit_info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able numbers of the report (NaN → None)."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "created": self.created,
            "lf_names": self.lf_names,
            "cardinality": self.k,
            "class_names": self.class_names,
            "corpus": vars(self.corpus),
            "lfs": self.lf_rows,
            "pairs": {"overlap": self.overlap.tolist(), "conflict": self.conflict.tolist()},
            "label_model": self.label_model,
            "class_balance": None if self.class_balance is None else self.class_balance.tolist(),
            "tables": self.tables,
            "fit_info": self.fit_info,
            "notes": self.notes,
            "confidence": None,
            "gold": None,
        }
        h = self.histogram
        if h is not None:
            out["confidence"] = {
                "edges": h.edges.tolist(),
                "counts": h.counts.tolist(),
                "uncovered": h.uncovered.tolist(),
                "n": h.n,
                "mean": h.mean_confidence,
                "label_counts": h.label_counts.tolist(),
            }
        g = self.gold
        if g is not None:
            out["gold"] = {
                "n_gold": g.n_gold,
                "gold_counts": g.gold_counts.tolist(),
                "accuracy": {m: g.accuracy(m) for m in g.models},
                "f1": {m: g.f1(m) for m in g.models} if self.k == 2 else None,
                "macro_f1": {m: g.macro_f1(m) for m in g.models},
                "ece": {m: g.ece(m) for m in g.models},
                "confusion": {m: c.tolist() for m, c in g.models.items()},
                "reliability": {
                    m: dict(
                        zip(
                            ("confidence", "accuracy", "count"),
                            (a.tolist() for a in g.reliability(m)),
                            strict=True,
                        )
                    )
                    for m in g.models
                },
            }
        return jsonable(out, "report data")  # type: ignore[no-any-return]
