"""The label-model interface and the one registry of model kinds.

Every label model — the moment-fit :class:`~wsup_spark.labelmodel.model.LabelModel`, the
:class:`~wsup_spark.labelmodel.baselines.MajorityVote` and
:class:`~wsup_spark.labelmodel.baselines.DawidSkene` baselines, and any model registered with
:func:`register_label_model` — is a :class:`BaseLabelModel`:

* ``fit(stats, class_balance=None, dependencies=None)`` from :class:`LFStats` alone (never n-sized
  data); returns self;
* ``predict_proba(L)`` → (n, k) ``P(Y | votes)`` for an (n, m) vote matrix; ``predict(L)`` argmax;
* ``to_dict()`` / ``from_dict(d)``: JSON parameters carrying ``"kind"``;
* ``accuracies`` (m,) learned ``P(λ_i = Y | λ_i votes)`` or None, ``class_balance`` (k,),
  ``warnings``, ``fit_info``, ``lf_names``; ``needs_patterns`` says whether the fit needs the
  vote-pattern histogram (:class:`~wsup_spark.stats.patterns.VotePatterns`).

The registry maps a kind (``label_model.kind`` in the config, ``"kind"`` in the JSON) to an import
path, so config validation, the pipeline, run loading and analysis share one list and importing
this module stays cheap (no scipy until a model is built).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from wsup_spark.errors import ConfigError, ModelError, StatsError
from wsup_spark.stats.lfstats import LFStats

Dependencies = Iterable[tuple[int | str, int | str]]


class BaseLabelModel:
    """Base class of every label model (see the module docstring for the contract).

    Subclasses set :attr:`kind`, implement :meth:`fit`, :meth:`predict_proba`, :meth:`to_dict`,
    :meth:`from_dict` and :attr:`class_balance`, and override :attr:`accuracies` when they learn
    per-LF accuracies.
    """

    #: The registry key, also stored as ``"kind"`` in :meth:`to_dict`.
    kind: ClassVar[str] = ""
    #: How messages name the model.
    display_name: ClassVar[str] = "label model"
    #: True when :meth:`fit` needs ``stats.patterns`` (collected with ``patterns=True``).
    needs_patterns: ClassVar[bool] = False

    cardinality: int
    lf_names: tuple[str, ...] | None = None

    def __init__(self, cardinality: int) -> None:
        self.cardinality = check_cardinality(cardinality)
        self.lf_names = None
        self.warnings: list[str] = []
        self.fit_info: dict[str, Any] = {}

    def fit(
        self,
        stats: LFStats,
        class_balance: Sequence[float] | np.ndarray | None = None,
        dependencies: Dependencies | None = None,
    ) -> BaseLabelModel:
        """Fit from statistics only; returns self."""
        raise NotImplementedError

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """(n, k) ``P(Y | λ)`` for an (n, m) vote matrix (-1 = abstain)."""
        raise NotImplementedError

    def predict(self, L: np.ndarray) -> np.ndarray:
        """(n,) argmax class (lowest index on ties)."""
        return np.asarray(self.predict_proba(L).argmax(axis=1))

    @property
    def class_balance(self) -> np.ndarray:
        """(k,) ``P(Y)`` the model predicts with."""
        raise NotImplementedError

    @property
    def accuracies(self) -> np.ndarray | None:
        """(m,) learned ``P(λ_i = Y | λ_i votes)``, or None for models without per-LF accuracies."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters, with ``"kind"``."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BaseLabelModel:
        """Inverse of :meth:`to_dict`."""
        raise NotImplementedError

    def check_stats(self, stats: LFStats) -> None:
        """:class:`StatsError` unless ``stats`` were computed for this model's cardinality."""
        if stats.k != self.cardinality:
            raise StatsError(
                f"LF statistics have k={stats.k} but the {self.display_name} has "
                f"cardinality={self.cardinality}; set lfs.cardinality to the number of classes "
                "the LFs vote"
            )

    def save(self, path: str) -> None:
        """Write the parameters as JSON (no pickle)."""
        with open(path, "w") as f:
            json.dump(self.to_dict(), f)

    @classmethod
    def load(cls, path: str) -> BaseLabelModel:
        """Read parameters written by :meth:`save` (any registered kind)."""
        with open(path) as f:
            return label_model_from_dict(json.load(f))


def check_cardinality(k: Any) -> int:
    """``k`` as an int >= 2, else :class:`ModelError`.

    >>> check_cardinality(3)
    3
    """
    out = int(k)
    if out < 2:
        raise ModelError(f"cardinality must be >= 2, got {out}")
    return out


def check_votes(L: np.ndarray, m: int, k: int) -> np.ndarray:
    """``L`` as int64 after checking its shape (n, m) and that votes lie in ``-1..k-1``."""
    L = np.asarray(L)
    if L.ndim != 2 or L.shape[1] != m:
        raise ModelError(f"L must have shape (n, {m}) for a model fit on {m} LFs, got {L.shape}")
    if L.size and (L.min() < -1 or L.max() >= k):
        raise ModelError(f"L holds votes outside -1..{k - 1}")
    return L.astype(np.int64, copy=False)


# --------------------------------------------------------------------------- registry

_KINDS: dict[str, str] = {
    "label_model": "wsup_spark.labelmodel.model:LabelModel",
    "majority_vote": "wsup_spark.labelmodel.baselines:MajorityVote",
    "dawid_skene": "wsup_spark.labelmodel.baselines:DawidSkene",
}


def label_model_kinds() -> tuple[str, ...]:
    """The registered kinds, in registration order.

    >>> label_model_kinds()[:3]
    ('label_model', 'majority_vote', 'dawid_skene')
    """
    return tuple(_KINDS)


def register_label_model(kind: str, target: str) -> None:
    """Register ``target`` (``"pkg.module:Class"``, a :class:`BaseLabelModel`) as ``kind``."""
    if not kind or ":" not in target:
        raise ConfigError(f"register_label_model needs a kind and 'module:Class', got {target!r}")
    _KINDS[kind] = target


def label_model_class(kind: str) -> type[BaseLabelModel]:
    """The class registered as ``kind`` (imported on first use)."""
    if kind not in _KINDS:
        raise ConfigError(
            f"label_model.kind={kind!r} is not one of {list(_KINDS)}; register new kinds with "
            "wsup_spark.labelmodel.register_label_model"
        )
    module, _, name = _KINDS[kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, BaseLabelModel)):
        raise ConfigError(f"{_KINDS[kind]} (label_model.kind={kind!r}) is not a BaseLabelModel")
    return cls


def build_label_model(
    kind: str, cardinality: int, params: Mapping[str, Any] | None = None
) -> BaseLabelModel:
    """An unfitted model of ``kind`` with ``params`` (``label_model.params`` in the config)."""
    cls = label_model_class(kind)
    try:
        return cls(cardinality, **dict(params or {}))
    except TypeError as e:
        raise ConfigError(f"label_model.params {dict(params or {})} for kind {kind!r}: {e}") from e


def label_model_from_dict(d: Mapping[str, Any]) -> BaseLabelModel:
    """A fitted model from its :meth:`~BaseLabelModel.to_dict` parameters (any registered kind)."""
    kind = d.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ModelError(
            f"label-model parameters have kind {kind!r}, not one of {list(_KINDS)}: not written "
            "by wsup_spark, or by a model kind this process has not registered"
        )
    return label_model_class(kind).from_dict(d)
