"""What an incremental run builds on, and what it must recompute.

Every committed single-task run leaves ``state.json`` in its artifacts folder
(``<output>/_runs/<run id>/``): per LF column of the votes table its name, fingerprint and the run
that computed it, and the statistics partials whose merge is the run's LF statistics (one per
batch of rows an incremental run added; a full recompute leaves one). An incremental run reads the
state of the last committed run (the run manifest names it), compares the LF set by fingerprint
(:func:`plan_lfs`) and writes its own state when it commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wsup_spark.errors import DataError
from wsup_spark.io.files import read_bytes, write_files
from wsup_spark.run.layout import MODEL_FILE, STATS_FILE, RunLayout
from wsup_spark.run.manifest import ManifestEntry, RunManifest
from wsup_spark.stats.lfstats import LFStats

#: The artifact holding a run's :class:`RunState`.
STATE_FILE = "state.json"


def batch_stats_file(votes_version: int) -> str:
    """The artifact holding the statistics partial of the rows an incremental run added in
    votes table version ``votes_version`` (one per commit, so reruns never overwrite one).

    >>> batch_stats_file(7)
    'batch_stats_v7.bin'
    """
    return f"batch_stats_v{int(votes_version)}.bin"


@dataclass(frozen=True)
class LFColumn:
    """One LF column of the votes table: the LF's name, its fingerprint (code, resources,
    preprocessors, template parameters) and the run that computed the column."""

    name: str
    fingerprint: str
    computed_by: str


@dataclass(frozen=True)
class RunState:
    """The state a committed run leaves for the next incremental run.

    Attributes
    ----------
    run_id : str
        The run that left it.
    columns : tuple of LFColumn
        The votes table's LF columns, in vote order (m).
    cardinality : int
        k.
    partials : tuple of (run id, artifact file name)
        The statistics partials whose merge is the run's LF statistics.
    has_gold : bool
        Whether the votes table carries the gold column.
    votes_version, labels_version : int
        The table versions the run committed (from the run manifest).
    train_version : int or None
        The training table's version, when the run wrote one.
    """

    run_id: str
    columns: tuple[LFColumn, ...]
    cardinality: int
    partials: tuple[tuple[str, str], ...]
    has_gold: bool
    votes_version: int = -1
    labels_version: int = -1
    train_version: int | None = None

    @property
    def names(self) -> list[str]:
        """LF names in vote order."""
        return [c.name for c in self.columns]

    def to_json(self) -> str:
        """JSON of the state (the table versions live in the manifest, not here)."""
        return json.dumps({
            "run_id": self.run_id, "cardinality": self.cardinality, "has_gold": self.has_gold,
            "columns": [c.__dict__ for c in self.columns],
            "partials": [list(p) for p in self.partials],
        }, indent=1)  # fmt: skip

    @classmethod
    def from_json(cls, text: str, entry: ManifestEntry | None = None) -> RunState:
        """Inverse of :meth:`to_json`; ``entry`` (the run's manifest commit) adds the versions."""
        d = json.loads(text)
        return cls(
            run_id=str(d["run_id"]), cardinality=int(d["cardinality"]),
            has_gold=bool(d["has_gold"]),
            columns=tuple(LFColumn(**c) for c in d["columns"]),
            partials=tuple((str(r), str(f)) for r, f in d["partials"]),
            votes_version=int(entry.votes_version) if entry and entry.votes_version is not None
            else -1,
            labels_version=int(entry.labels_version) if entry and entry.labels_version is not None
            else -1,
            train_version=entry.train_version if entry else None,
        )  # fmt: skip


def full_run_state(
    run_id: str, names: Sequence[str], fingerprints: Sequence[str], k: int, has_gold: bool
) -> RunState:
    """The state of a run that computed every column over every row itself.

    >>> s = full_run_state("r1", ["a", "b"], ["fa", "fb"], 2, False)
    >>> [c.computed_by for c in s.columns], s.partials
    (['r1', 'r1'], (('r1', 'lf_stats.npz'),))
    """
    cols = tuple(LFColumn(n, f, run_id) for n, f in zip(names, fingerprints, strict=True))
    return RunState(run_id, cols, k, ((run_id, STATS_FILE),), has_gold)


def save_state(
    layout: RunLayout,
    state: RunState,
    batch_stats: LFStats | None = None,
    batch_file: str | None = None,
) -> None:
    """Write ``state.json`` (and, as ``batch_file``, the partial of the rows this run added)."""
    files = {STATE_FILE: state.to_json().encode()}
    if batch_stats is not None and batch_file is not None:
        files[batch_file] = batch_stats.to_bytes()
    write_files(layout.artifacts(state.run_id), files)


def load_state(layout: RunLayout) -> RunState | None:
    """The state of the last committed run of ``layout``, or None when no run committed there.

    Raises :class:`DataError` when the last run left no state (a multi-task run, or a run of a
    wsup_spark version before incremental runs): a full run first makes one.
    """
    entry = RunManifest(layout).last_commit()
    if entry is None:
        return None
    try:
        text = read_bytes(layout.artifact(entry.run_id, STATE_FILE)).decode()
    except OSError as e:
        raise DataError(
            f"the last run at {layout.root} ({entry.run_id!r}) left no {STATE_FILE} (a "
            "multi-task run, or one written before incremental runs existed); run once without "
            "--incremental to start from a full run"
        ) from e
    detail = json.loads(entry.detail or "{}")
    if detail.get("mode", "overwrite") != "overwrite":
        raise DataError(
            f"the last run at {layout.root} ({entry.run_id!r}) wrote in output.mode "
            f"{detail.get('mode')!r}: its tables hold several runs' rows, and an incremental run "
            "needs one row per id. Run once with output.mode: overwrite first"
        )
    return RunState.from_json(text, entry)


def load_stats(layout: RunLayout, state: RunState) -> LFStats:
    """The LF statistics of ``state``: the merge of its partials (exact: integer counts)."""
    out: LFStats | None = None
    for run_id, name in state.partials:
        part = LFStats.from_bytes(read_bytes(layout.artifact(run_id, name)))
        out = part if out is None else out.merge(part)
    if out is None:
        raise DataError(f"run {state.run_id!r}: its state lists no statistics partials")
    return out


def load_model_params(layout: RunLayout, run_id: str) -> dict[str, Any]:
    """The fitted label model's parameters that ``run_id`` saved."""
    return json.loads(read_bytes(layout.artifact(run_id, MODEL_FILE)))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LFPlan:
    """How the new LF set's columns come about from the stored ones.

    Attributes
    ----------
    keep : tuple of (new position, stored position)
        Columns reused as stored (same name and fingerprint).
    compute : tuple of int
        New positions of the LFs to apply (added or changed).
    added, changed, removed : tuple of str
        LF names: not stored before; stored with another fingerprint; stored but gone.
    """

    keep: tuple[tuple[int, int], ...]
    compute: tuple[int, ...]
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    columns: tuple[LFColumn, ...] = field(default=())

    @property
    def same_columns(self) -> bool:
        """True when the stored votes are the new votes as they are (same LFs, same order)."""
        return not self.compute and not self.removed and all(a == b for a, b in self.keep)


def plan_lfs(
    stored: Sequence[LFColumn], names: Sequence[str], fingerprints: Sequence[str], run_id: str
) -> LFPlan:
    """Compare the new LF set with the stored columns.

    >>> old = [LFColumn("a", "1", "r1"), LFColumn("b", "2", "r1"), LFColumn("c", "3", "r1")]
    >>> p = plan_lfs(old, ["b", "a", "d"], ["2", "9", "4"], "r2")
    >>> p.keep, p.compute, p.added, p.changed, p.removed
    (((0, 1),), (1, 2), ('d',), ('a',), ('c',))
    >>> [c.computed_by for c in p.columns]
    ['r1', 'r2', 'r2']
    """
    where = {c.name: (i, c) for i, c in enumerate(stored)}
    keep: list[tuple[int, int]] = []
    compute: list[int] = []
    added: list[str] = []
    changed: list[str] = []
    cols: list[LFColumn] = []
    for j, (name, fp) in enumerate(zip(names, fingerprints, strict=True)):
        old = where.get(name)
        if old is not None and old[1].fingerprint == fp:
            keep.append((j, old[0]))
            cols.append(old[1])
            continue
        compute.append(j)
        (changed if old is not None else added).append(name)
        cols.append(LFColumn(name, fp, run_id))
    removed = tuple(c.name for c in stored if c.name not in set(names))
    return LFPlan(tuple(keep), tuple(compute), tuple(added), tuple(changed), removed, tuple(cols))
