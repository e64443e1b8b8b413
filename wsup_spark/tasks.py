"""Task structure for multi-task weak supervision (MeTaL): tasks, hierarchy, feasible joint labels.

A :class:`TaskGraph` is a tuple of :class:`Task` (name, cardinality, optional class names) and the
set ``Y`` of *feasible joint label vectors*: a (J, T) int array, one column per task, ``-1`` where a
task does not apply (N/A). ``Y`` comes either from a hierarchy — a child task is defined only when
its parent takes given values, and each child value may imply one parent value (a tree like TREC's
coarse → fine question types) — or from an explicit list of joint vectors. A single task is the
graph with one task (``Y = [[0], [1], ..., [k-1]]``).

An LF voting value ``a`` of task ``t`` is consistent with the joint values ``{y ∈ Y : y_t = a}``;
a *partial* vote is any subset of ``Y`` (e.g. a coarse vote "NUM" seen on the fine task is the set
of fine values under NUM). :meth:`TaskGraph.vote_sets` gives the (k_t, J) indicator matrix of a
task's votes; :meth:`TaskGraph.marginals` turns (n, J) joint probabilities into per-task ones.

numpy + stdlib only.

Examples
--------
>>> g = TaskGraph([Task("abnormal", 2), Task("finding", 3, parent="abnormal", active_when=(1,))])
>>> g.feasible.tolist()
[[0, -1], [1, 0], [1, 1], [1, 2]]
>>> g.vote_sets("finding")[:, :].astype(int).tolist()
[[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsup_spark.errors import ConfigError

__all__ = ["NA", "Task", "TaskGraph"]

NA = -1
"""Value of a task that does not apply in a joint label vector."""


@dataclass(frozen=True)
class Task:
    """One classification task.

    Parameters
    ----------
    name : str
        Unique task name.
    cardinality : int
        Number of classes k (values ``0..k-1``), k ≥ 2.
    class_names : tuple of str, optional
        Names of the k classes.
    parent : str, optional
        Name of the parent task (declared earlier in the graph).
    active_when : tuple of int, optional
        Parent values for which this task is defined (N/A otherwise). Default: every parent value
        some child value maps to (``parent_of``), else every parent value.
    parent_of : tuple of int, optional
        (k,) the parent value each of this task's values implies (a tree: TREC's ``NUM:count``
        implies coarse ``NUM``). Default: any value is compatible with any active parent value.
    """

    name: str
    cardinality: int
    class_names: tuple[str, ...] | None = None
    parent: str | None = None
    active_when: tuple[int, ...] | None = None
    parent_of: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a task needs a non-empty string name, got {self.name!r}")
        if not isinstance(self.cardinality, int) or self.cardinality < 2:
            raise ConfigError(
                f"task {self.name!r}: cardinality must be an integer >= 2, got {self.cardinality!r}"
            )
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
            assert self.class_names is not None
            if len(self.class_names) != self.cardinality:
                raise ConfigError(
                    f"task {self.name!r}: {len(self.class_names)} class_names for cardinality "
                    f"{self.cardinality}"
                )
            if len(set(self.class_names)) != self.cardinality:
                raise ConfigError(f"task {self.name!r}: class_names are not unique")
        for attr in ("active_when", "parent_of"):
            val = getattr(self, attr)
            if val is not None:
                if self.parent is None:
                    raise ConfigError(f"task {self.name!r}: {attr} given but no parent task")
                object.__setattr__(self, attr, tuple(int(v) for v in val))
        if self.parent_of is not None and len(self.parent_of) != self.cardinality:
            raise ConfigError(
                f"task {self.name!r}: parent_of has {len(self.parent_of)} entries, expected one "
                f"per value ({self.cardinality})"
            )

    def value_index(self, value: int | str) -> int:
        """Index of a class given by index or name.

        Examples
        --------
        >>> Task("coarse", 2, ("LOC", "NUM")).value_index("NUM")
        1
        """
        if isinstance(value, str):
            if self.class_names is None or value not in self.class_names:
                raise ConfigError(
                    f"task {self.name!r} has no class named {value!r} "
                    f"(classes: {list(self.class_names or range(self.cardinality))})"
                )
            return self.class_names.index(value)
        v = int(value)
        if not 0 <= v < self.cardinality:
            raise ConfigError(f"task {self.name!r}: value {v} outside 0..{self.cardinality - 1}")
        return v

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (keys with None values are left out)."""
        out: dict[str, Any] = {"name": self.name, "cardinality": self.cardinality}
        for key in ("class_names", "parent", "active_when", "parent_of"):
            val = getattr(self, key)
            if val is not None:
                out[key] = list(val) if isinstance(val, tuple) else val
        return out


class TaskGraph:
    """Tasks and their feasible joint label vectors.

    Parameters
    ----------
    tasks : sequence of Task
        In an order where every parent precedes its children.
    feasible : (J, T) array-like of int, optional
        Explicit feasible joint vectors (``-1`` = N/A). Default: derived from the hierarchy (all
        combinations allowed by ``parent``/``active_when``/``parent_of``; tasks without a parent
        are independent of each other), enumerated in lexicographic order of the task values.

    Attributes
    ----------
    tasks : tuple of Task
    feasible : (J, T) int64
        The feasible set Y, one joint vector per row; read-only.

    Examples
    --------
    >>> g = TaskGraph.from_dict({"tasks": [
    ...     {"name": "coarse", "cardinality": 2, "class_names": ["LOC", "NUM"]},
    ...     {"name": "fine", "cardinality": 3, "parent": "coarse", "parent_of": [0, 1, 1]}]})
    >>> g.feasible.tolist()
    [[0, 0], [1, 1], [1, 2]]
    >>> g.vote_sets("coarse").astype(int).tolist()
    [[1, 0, 0], [0, 1, 1]]
    >>> TaskGraph.from_dict(g.to_dict()) == g
    True
    """

    def __init__(
        self, tasks: Sequence[Task], feasible: np.ndarray | Sequence[Sequence[int]] | None = None
    ) -> None:
        self.tasks: tuple[Task, ...] = tuple(tasks)
        if not self.tasks:
            raise ConfigError("a task graph needs at least one task")
        names = [t.name for t in self.tasks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"task names must be unique; repeated: {dup}")
        for pos, t in enumerate(self.tasks):
            if t.parent is None:
                continue
            if t.parent not in names[:pos]:
                where = "is not a task" if t.parent not in names else "comes after it"
                raise ConfigError(
                    f"task {t.name!r}: parent {t.parent!r} {where}; list parents before children"
                )
            parent = self.tasks[names.index(t.parent)]
            for v in (t.active_when or ()) + (t.parent_of or ()):
                if not 0 <= v < parent.cardinality:
                    raise ConfigError(
                        f"task {t.name!r}: parent value {v} outside 0..{parent.cardinality - 1} "
                        f"of task {parent.name!r}"
                    )
            if t.active_when is not None and t.parent_of is not None:
                bad = sorted(set(t.parent_of) - set(t.active_when))
                if bad:
                    raise ConfigError(
                        f"task {t.name!r}: parent_of maps values to parent value(s) {bad} "
                        f"not in active_when {list(t.active_when)}"
                    )
        self._explicit = feasible is not None
        Y = self._check_feasible(feasible) if feasible is not None else self._enumerate()
        Y.setflags(write=False)
        self.feasible: np.ndarray = Y

    # ------------------------------------------------------------------ construction
    def _enumerate(self) -> np.ndarray:
        rows: list[tuple[int, ...]] = [()]
        index = {t.name: i for i, t in enumerate(self.tasks)}
        for t in self.tasks:
            new: list[tuple[int, ...]] = []
            for y in rows:
                if t.parent is None:
                    new.extend((*y, v) for v in range(t.cardinality))
                    continue
                pv = y[index[t.parent]]
                active = t.active_when or (
                    tuple(sorted(set(t.parent_of))) if t.parent_of is not None
                    else tuple(range(self.tasks[index[t.parent]].cardinality))
                )  # fmt: skip
                if pv == NA or pv not in active:
                    new.append((*y, NA))
                    continue
                vals = [
                    v for v in range(t.cardinality) if t.parent_of is None or t.parent_of[v] == pv
                ]
                new.extend((*y, v) for v in vals)
                if not vals:
                    new.append((*y, NA))
            rows = new
        return np.array(rows, np.int64).reshape(len(rows), len(self.tasks))

    def _check_feasible(self, feasible: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        Y = np.asarray(feasible, dtype=np.int64)
        T = len(self.tasks)
        if Y.ndim != 2 or Y.shape[1] != T or Y.shape[0] == 0:
            raise ConfigError(
                f"feasible must be a non-empty (J, {T}) array of joint label vectors, got shape "
                f"{Y.shape}"
            )
        for j, t in enumerate(self.tasks):
            col = Y[:, j]
            bad = col[(col < NA) | (col >= t.cardinality)]
            if bad.size:
                raise ConfigError(
                    f"feasible joint vector holds value {int(bad[0])} for task {t.name!r}, "
                    f"outside -1..{t.cardinality - 1}"
                )
        if len({tuple(r) for r in Y.tolist()}) != Y.shape[0]:
            raise ConfigError("feasible joint vectors must be distinct")
        return Y.copy()

    @classmethod
    def single(cls, cardinality: int, name: str = "task",
               class_names: Sequence[str] | None = None) -> TaskGraph:  # fmt: skip
        """The one-task graph (plain single-task weak supervision).

        Examples
        --------
        >>> TaskGraph.single(3).feasible.ravel().tolist()
        [0, 1, 2]
        """
        return cls([Task(name, cardinality, tuple(class_names) if class_names else None)])

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaskGraph:
        """Build from a config/JSON mapping ``{"tasks": [{name, cardinality, class_names?,
        parent?, active_when?, parent_of?}, ...], "feasible": [[...], ...]?}``.

        ``parent_of`` may name parent classes (strings) when the parent has class names.
        """
        if not isinstance(d, Mapping) or not isinstance(d.get("tasks"), list):
            raise ConfigError("task config needs a 'tasks' list of {name, cardinality, ...}")
        known = {"name", "cardinality", "class_names", "parent", "active_when", "parent_of"}
        tasks: list[Task] = []
        for i, spec in enumerate(d["tasks"]):
            if not isinstance(spec, Mapping):
                raise ConfigError(f"tasks[{i}] must be a mapping, got {spec!r}")
            extra = sorted(set(spec) - known)
            name = spec.get("name", f"tasks[{i}]")
            if extra:
                raise ConfigError(f"task {name!r}: unknown key(s) {extra}; known: {sorted(known)}")
            if "name" not in spec or "cardinality" not in spec:
                raise ConfigError(f"task {name!r}: 'name' and 'cardinality' are required")
            spec = dict(spec)
            parent_name = spec.get("parent")
            for key in ("active_when", "parent_of"):
                if spec.get(key) is not None and parent_name is not None:
                    parent = next((t for t in tasks if t.name == parent_name), None)
                    if parent is not None:
                        try:
                            spec[key] = tuple(parent.value_index(v) for v in spec[key])
                        except ConfigError as e:
                            raise ConfigError(f"task {name!r}, {key}: {e}") from e
            for key in ("class_names", "active_when", "parent_of"):
                if spec.get(key) is not None:
                    spec[key] = tuple(spec[key])
            tasks.append(Task(**spec))
        return cls(tasks, d.get("feasible"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description; :meth:`from_dict` inverts it. ``feasible`` is written only when
        it was given explicitly."""
        out: dict[str, Any] = {"tasks": [t.to_dict() for t in self.tasks]}
        if self._explicit:
            out["feasible"] = self.feasible.tolist()
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskGraph):
            return NotImplemented
        return self.tasks == other.tasks and np.array_equal(self.feasible, other.feasible)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TaskGraph({[t.name for t in self.tasks]}, J={self.n_joint})"

    # ------------------------------------------------------------------ views
    @property
    def names(self) -> tuple[str, ...]:
        """Task names in order."""
        return tuple(t.name for t in self.tasks)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Cardinality of each task."""
        return tuple(t.cardinality for t in self.tasks)

    @property
    def n_joint(self) -> int:
        """J, the number of feasible joint label vectors."""
        return int(self.feasible.shape[0])

    def index(self, task: str | int) -> int:
        """Position of a task given by name or position."""
        if isinstance(task, str):
            if task not in self.names:
                raise ConfigError(f"no task named {task!r}; tasks: {list(self.names)}")
            return self.names.index(task)
        if not 0 <= int(task) < len(self.tasks):
            raise ConfigError(f"task index {task} outside 0..{len(self.tasks) - 1}")
        return int(task)

    def task(self, task: str | int) -> Task:
        """The :class:`Task` given by name or position."""
        return self.tasks[self.index(task)]

    def can_be_na(self, task: str | int) -> bool:
        """Whether some feasible joint vector has this task N/A."""
        return bool((self.feasible[:, self.index(task)] == NA).any())

    def vote_sets(self, task: str | int) -> np.ndarray:
        """(k_t, J) bool: row a marks the joint values consistent with the vote ``task = a``."""
        j = self.index(task)
        k = self.tasks[j].cardinality
        return self.feasible[None, :, j] == np.arange(k)[:, None]  # type: ignore[no-any-return]

    def partial_vote_set(self, task: str | int, values: Iterable[int | str]) -> np.ndarray:
        """(J,) bool: joint values where ``task`` takes any of ``values`` (a partial vote).

        Examples
        --------
        >>> g = TaskGraph([Task("c", 2), Task("f", 4, parent="c", parent_of=(0, 0, 1, 1))])
        >>> g.partial_vote_set("f", [2, 3]).astype(int).tolist()  # "the coarse class is 1"
        [0, 0, 1, 1]
        """
        t = self.task(task)
        idx = [t.value_index(v) for v in values]
        return np.isin(self.feasible[:, self.index(task)], idx)

    def projection(self, task: str | int) -> np.ndarray:
        """(J, k_t) float64 indicator ``1[y_t = a]`` (all zero on rows where the task is N/A)."""
        return self.vote_sets(task).T.astype(np.float64)

    def marginals(self, P: np.ndarray) -> dict[str, np.ndarray]:
        """Per-task marginals of joint probabilities.

        Parameters
        ----------
        P : (n, J) float64
            Probabilities over the feasible joint vectors.

        Returns
        -------
        dict name -> (n, k_t) float64
            ``P(Y_t = a)``; a row sums to ``P(task t applies)`` (1 for a task that always
            applies).
        """
        P = np.asarray(P, float)
        if P.ndim != 2 or P.shape[1] != self.n_joint:
            raise ConfigError(f"joint probabilities must be (n, {self.n_joint}), got {P.shape}")
        return {t.name: P @ self.projection(j) for j, t in enumerate(self.tasks)}

    def uniform_balance(self) -> np.ndarray:
        """(J,) the hierarchical uniform prior: each task's value is uniform among the values
        still feasible given the earlier tasks (one task: uniform; TREC: uniform coarse, then
        uniform fine within the coarse class).

        Examples
        --------
        >>> g = TaskGraph([Task("c", 2), Task("f", 3, parent="c", parent_of=(0, 1, 1))])
        >>> g.uniform_balance().tolist()
        [0.5, 0.25, 0.25]
        """
        Y = self.feasible
        p = np.ones(self.n_joint)
        for j in range(Y.shape[1]):
            prefix = [tuple(r) for r in Y[:, :j].tolist()]
            groups: dict[tuple[int, ...], set[int]] = {}
            for pre, v in zip(prefix, Y[:, j].tolist(), strict=True):
                groups.setdefault(pre, set()).add(v)
            p *= np.array([1.0 / len(groups[pre]) for pre in prefix])
        return p / p.sum()  # type: ignore[no-any-return]

    def labels_of(self, values: Sequence[int | str], task: str | int) -> list[int]:
        """Indices of class names/indices of one task (for reading gold or configs)."""
        t = self.task(task)
        return [t.value_index(v) for v in values]

    def joint_index(self, y: Sequence[int]) -> int:
        """Row of ``feasible`` equal to the joint vector ``y``."""
        hit = np.flatnonzero((self.feasible == np.asarray(y)[None, :]).all(axis=1))
        if not hit.size:
            raise ConfigError(f"joint label vector {list(y)} is not feasible for {self!r}")
        return int(hit[0])
