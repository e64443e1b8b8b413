"""``wsup augment`` and ``jobs/augment.py``: apply a policy to a Delta table, write another.

The job's configuration is a small YAML file (``conf/augment_demo.yaml``)::

    input: ./wsup_out/demo/train     # Delta table to augment (the pipeline's training table)
    output: ./wsup_out/demo/train_aug
    column: text                     # string, numeric array or binary (uint8 images) column
    policy: random                   # none | random | trivial | apply_all, or a policy JSON file
    tfs: [random_swap, random_delete, number_sub, typo]
    copies: 2                        # augmented copies per row (the original is kept too)
    seed: 0
    run_id: null                     # default: a hash of this config

``policy`` is either the name of a fixed kind (built from ``tfs`` with ``seq_len`` and
``strength``) or the path of a policy saved with :meth:`Policy.save` (a learned one, say);
``tfs`` entries are names from the TF library (:data:`~wsup_spark.augment.images.IMAGE_TFS`,
:data:`~wsup_spark.augment.images.BAD_IMAGE_TFS`, :data:`~wsup_spark.augment.text.TEXT_TFS`) or
import paths ``pkg.mod:ATTR`` of your own TF (or list of TFs). A policy file needs ``tfs`` only
for TFs outside the library. Optional keys: ``id_col`` (``id``), ``image_shape`` ([h, w] of a
flattened image column: an array of numbers, or binary uint8 pixels, written back as binary),
``seq_len`` (2), ``strength`` (null = each TF's default), ``keep_original`` (true),
``input_version``, ``mode`` (``overwrite`` | ``append``: rerunning a run id replaces that run's
rows), ``writer`` (``auto`` | ``delta-rs`` | ``spark``), ``read`` (``auto`` | ``files`` |
``spark``: whether the write tasks read the input's Parquet files themselves, see
:func:`~wsup_spark.augment.spark.augment_table`) and ``spark: {master, app_name, conf}``.
Unknown keys are errors; ``--set key=value`` overrides.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsup_spark.augment.base import TransformationFunction
from wsup_spark.augment.policy import Policy
from wsup_spark.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "FIXED_POLICIES",
    "AugmentJobConfig",
    "cmd_augment",
    "library_tfs",
    "load_augment_config",
    "resolve_job_tfs",
    "run_augment",
]

#: Policy kinds ``policy:`` may name (the learned kinds come as JSON files).
FIXED_POLICIES = ("none", "random", "trivial", "apply_all")


@dataclass(frozen=True)
class AugmentJobConfig:
    """What ``wsup augment`` does (see the module docstring for each key)."""

    input: str
    output: str
    column: str
    policy: str = "trivial"
    tfs: Sequence[str] = ()
    copies: int = 1
    seed: int = 0
    run_id: str | None = None
    id_col: str = "id"
    image_shape: Sequence[int] | None = None
    seq_len: int = 2
    strength: float | None = None
    keep_original: bool = True
    input_version: int | None = None
    mode: str = "overwrite"
    writer: str = "auto"
    read: str = "auto"
    spark: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("input", "output", "column", "policy"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"augment config: {name} must be a non-empty string")
        if isinstance(self.tfs, str):
            object.__setattr__(self, "tfs", (self.tfs,))
        object.__setattr__(self, "tfs", tuple(str(t) for t in self.tfs))
        if int(self.copies) < 0:
            raise ConfigError(f"augment config: copies={self.copies}; use 0 or more")
        if self.mode not in ("overwrite", "append"):
            raise ConfigError(f"augment config: mode={self.mode!r}; use overwrite or append")
        if self.writer not in ("auto", "delta-rs", "spark"):
            raise ConfigError(
                f"augment config: writer={self.writer!r}; use auto, delta-rs or spark"
            )
        if self.read not in ("auto", "files", "spark"):
            raise ConfigError(f"augment config: read={self.read!r}; use auto, files or spark")
        unknown = sorted(set(self.spark) - {"master", "app_name", "conf"})
        if unknown:
            raise ConfigError(f"augment config: spark has unknown keys {unknown}")
        if self.policy in FIXED_POLICIES and self.policy != "none" and not self.tfs:
            raise ConfigError(
                f"augment config: policy {self.policy!r} needs tfs (TF names, e.g. "
                "[random_swap, typo], or pkg.mod:ATTR)"
            )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AugmentJobConfig:
        """Validate a mapping (unknown keys are errors)."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"augment config must be a mapping, got {type(raw).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ConfigError(f"unknown augment config key(s) {unknown}; allowed: {sorted(names)}")
        missing = sorted(k for k in ("input", "output", "column") if not raw.get(k))
        if missing:
            raise ConfigError(f"augment config needs {missing}")
        d = dict(raw)
        for k in ("spark",):
            d[k] = dict(d.get(k) or {})
        for k in ("tfs",):
            d[k] = d.get(k) or ()
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able mapping."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))  # type: ignore[no-any-return]

    def fingerprint(self) -> str:
        """Hash of everything that decides the output rows (the default run id)."""
        d = self.to_dict()
        for k in ("run_id", "writer", "read", "spark"):
            d.pop(k)
        if self.policy not in FIXED_POLICIES and Path(self.policy).is_file():
            d["policy"] = Policy.load(self.policy).hash
        text = json.dumps(d, sort_keys=True)
        return "augment-" + hashlib.sha1(text.encode()).hexdigest()[:12]


def load_augment_config(path: str | Path, overrides: Sequence[str] = ()) -> AugmentJobConfig:
    """Read the job's YAML file (``yaml.safe_load``), apply ``key=value`` overrides, validate."""
    import yaml

    from wsup_spark.config import apply_overrides

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"augment config file {str(p)!r} does not exist")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"augment config file {str(p)!r} must hold a mapping at top level")
    return AugmentJobConfig.from_dict(apply_overrides(raw, overrides))


def library_tfs() -> dict[str, TransformationFunction]:
    """Every TF of the library by name (image, destructive image and text TFs)."""
    from wsup_spark.augment.images import BAD_IMAGE_TFS, IMAGE_TFS
    from wsup_spark.augment.text import TEXT_TFS

    return {t.name: t for t in (*IMAGE_TFS, *BAD_IMAGE_TFS, *TEXT_TFS)}


def _import_tfs(path: str) -> list[TransformationFunction]:
    mod_name, _, attr = path.partition(":")
    try:
        obj: Any = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"augment config: cannot import TFs {path!r}: {e}") from e
    items = [obj] if isinstance(obj, TransformationFunction) else list(obj)
    bad = [type(t).__name__ for t in items if not isinstance(t, TransformationFunction)]
    if bad:
        raise ConfigError(
            f"augment config: {path!r} holds {bad}, not TFs; decorate them with "
            "@transformation_function() or @vectorized_tf()"
        )
    return items


def resolve_job_tfs(cfg: AugmentJobConfig) -> tuple[Policy, list[TransformationFunction]]:
    """The policy and its TFs (in policy order) for a job config."""
    lib = library_tfs()
    chosen: dict[str, TransformationFunction] = {}
    for entry in cfg.tfs:
        if ":" in entry:
            for t in _import_tfs(entry):
                chosen[t.name] = t
        elif entry in lib:
            chosen[entry] = lib[entry]
        else:
            raise ConfigError(
                f"augment config: TF {entry!r} is not in the library {sorted(lib)}; name your own "
                "TFs by import path, e.g. mypkg.tfs:TFS"
            )
    if cfg.policy in FIXED_POLICIES:
        policy = Policy(cfg.policy, tuple(chosen), seq_len=int(cfg.seq_len),
                        strength=cfg.strength)  # fmt: skip
    elif cfg.policy.endswith(".json") or Path(cfg.policy).is_file():
        policy = Policy.load(cfg.policy)
    else:
        raise ConfigError(
            f"augment config: policy {cfg.policy!r} is neither one of {list(FIXED_POLICIES)} nor "
            "a policy JSON file"
        )
    pool = {**lib, **chosen}
    missing = [n for n in policy.tfs if n not in pool]
    if missing:
        raise ConfigError(
            f"policy {policy.hash} uses TFs {missing} that are neither in the library nor in "
            "tfs; add their import paths (pkg.mod:ATTR) to tfs"
        )
    return policy, [pool[n] for n in policy.tfs]


def run_augment(cfg: AugmentJobConfig, spark: Any = None) -> dict[str, Any]:
    """Read ``input``, augment ``column``, write ``output`` as one commit; returns a summary.

    Parameters
    ----------
    cfg : AugmentJobConfig
    spark : SparkSession, optional
        Default: the active or spark-submit session, else a local one (``cfg.spark``).
    """
    from wsup_spark.augment.spark import augment_table
    from wsup_spark.spark.session import get_or_create_session

    policy, tfs = resolve_job_tfs(cfg)
    if spark is None:
        sc = cfg.spark
        spark = get_or_create_session(sc.get("master"), str(sc.get("app_name", "wsup-augment")),
                                      sc.get("conf"))  # fmt: skip
    run_id = cfg.run_id or cfg.fingerprint()
    shape = None if cfg.image_shape is None else [int(s) for s in cfg.image_shape]
    res = augment_table(
        spark, cfg.input, cfg.output, policy, tfs, column=cfg.column, seed=int(cfg.seed),
        run_id=run_id, version=cfg.input_version, id_col=cfg.id_col, n_copies=int(cfg.copies),
        keep_original=bool(cfg.keep_original), image_shape=shape, mode=cfg.mode,
        writer=cfg.writer, read=cfg.read,
    )  # fmt: skip
    return {
        "output": cfg.output,
        "version": res.version,
        "rows": res.num_rows,
        "run_id": run_id,
        "policy": policy.kind,
        "policy_hash": policy.hash,
        "tfs": list(policy.tfs),
        "copies": int(cfg.copies),
        "seed": int(cfg.seed),
    }


def cmd_augment(args: argparse.Namespace) -> int:
    """``wsup augment --config FILE [--set key=value ...]``: run the job, print its summary."""
    cfg = load_augment_config(args.config, args.overrides)
    print(json.dumps(run_augment(cfg), indent=2))
    return 0
