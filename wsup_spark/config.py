"""Pipeline configuration: frozen dataclasses, one per stage, loaded from YAML.

YAML is parsed with ``yaml.safe_load`` (data, never code). ``--set a.b=value`` overrides are
applied to the raw mapping before validation; values are parsed as YAML scalars.
Unknown keys are errors (a typo must not be silently ignored).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from wsup_spark.errors import ConfigError
from wsup_spark.labelmodel.base import label_model_kinds

logger = logging.getLogger(__name__)

T = TypeVar("T")

SOURCE_FORMATS = ("demo", "csv", "parquet", "json", "delta")


@dataclass(frozen=True)
class SparkConfig:
    """How to get a SparkSession. An active session (spark-submit, Databricks) always wins."""

    master: str | None = None
    app_name: str = "wsup_spark"
    conf: Mapping[str, Any] = field(default_factory=dict)
    remote: str | None = None  # Spark Connect URL (sc://host:15002); also SPARK_REMOTE


@dataclass(frozen=True)
class SourceConfig:
    """The corpus.

    ``format: demo`` calls the corpus generator ``generator`` (``pkg.module:function``; default
    the synthetic radiology corpus) with ``n_rows`` and ``seed``; otherwise
    ``path`` is read with Spark's reader for ``format`` (csv/parquet/json) or as a Delta table.
    ``columns`` renames columns ``{old: new}``. ``dedupe_ids`` drops rows whose id repeats (keeps
    one row per id; costs a shuffle). ``check_ids`` fails the run before anything is written when
    an id is null or repeated (costs a shuffle, so it is off by default; null ids are always
    rejected when the LFs run).
    """

    format: str = "demo"
    path: str | None = None
    generator: str = "wsup_spark.demo.radiology:make_corpus"
    id_col: str = "id"
    n_rows: int = 100_000
    seed: int = 0
    num_partitions: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    gold_col: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    dedupe_ids: bool = False
    check_ids: bool = False


@dataclass(frozen=True)
class LFConfig:
    """Which LFs to run. ``modules`` are import paths ``pkg.mod`` (attribute ``LFS``) or
    ``pkg.mod:ATTR`` (a list of LFs or a single LF); a single string is read as a list of one.
    ``class_names`` names the k classes (report, CLI tables; default ``0 .. k-1``)."""

    modules: Sequence[str] = ()
    cardinality: int = 2
    on_error: str = "raise"
    exclude: Sequence[str] = ()
    max_ms_per_row: float | None = None
    class_names: Sequence[str] | None = None


@dataclass(frozen=True)
class LabelModelConfig:
    """Which label model to fit and how."""

    kind: str = "label_model"
    class_balance: Sequence[float] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputConfig:
    """Where tables go: ``<path>/votes`` and ``<path>/labels`` (+ ``<path>/train`` if asked)."""

    path: str = "./wsup_out/demo"
    writer: str = "auto"
    mode: str = "overwrite"
    training_table: bool = False
    features: Sequence[str] = ()
    allow_non_empty: bool = False
    embedding: Mapping[str, Any] = field(default_factory=dict)


EMBEDDING_DEFAULTS: dict[str, Any] = {
    "text_col": None, "column": "embedding", "model": "minilm", "batch_size": 64,
    "device": "cpu", "torch_threads": 1,
}  # fmt: skip
"""``output.embedding`` keys and defaults: the training table gains ``column``, the frozen
sentence embedding of ``text_col`` by ``model`` (``minilm`` = the shipped all-MiniLM-L6-v2, or a
local model folder), computed on the executors (README "A pretrained text encoder"). Nothing is
embedded when ``output.training_table`` is false."""


def embedding_settings(out: OutputConfig) -> dict[str, Any] | None:
    """``output.embedding`` with its defaults filled in, or None when it is not configured.

    >>> embedding_settings(OutputConfig(embedding={"text_col": "text"}))["column"]
    'embedding'
    """
    if not out.embedding:
        return None
    return {**EMBEDDING_DEFAULTS, **dict(out.embedding)}


@dataclass(frozen=True)
class IncrementalConfig:
    """Incremental relabeling (``wsup run --incremental``; README "Incremental runs").

    With ``enabled`` a run builds on the last committed run of ``output.path``: it applies only
    the LFs that are new or changed (by fingerprint), drops removed ones, and runs every LF on new
    rows only. Which source rows are new: ``where`` (a Spark SQL filter on the source, e.g. the
    logical date's partition), ``files`` (files of ``source.format`` holding them, read with the
    source's options), or ``delta_versions: [from, to]`` (the data files a Delta source gained
    between those versions); with none of them, source rows whose id the votes table lacks.
    A new row whose id the tables already hold replaces that row (an upsert).
    """

    enabled: bool = False
    where: str | None = None
    files: Sequence[str] = ()
    delta_versions: Sequence[int] | None = None


@dataclass(frozen=True)
class TasksConfig:
    """Multi-task supervision (optional; see README "Multi-task supervision").

    ``tasks`` lists the tasks, parents before children: each ``{name, cardinality, class_names?,
    parent?, active_when?, parent_of?, lfs, gold_col?}`` — the keys of
    :meth:`~wsup_spark.tasks.TaskGraph.from_dict` plus ``lfs`` (that task's LF modules, as
    ``lfs.modules``) and ``gold_col`` (a corpus column with that task's gold label: class index
    or name; null where the task does not apply). ``feasible`` optionally lists the feasible
    joint label vectors explicitly (``-1`` = N/A). In YAML ``tasks:`` may be the list itself.
    Empty (the default): a single-task run as configured by ``lfs``.
    """

    tasks: Sequence[Mapping[str, Any]] = ()
    feasible: Sequence[Sequence[int]] | None = None


@dataclass(frozen=True)
class PipelineConfig:
    """The whole pipeline's configuration."""

    run_id: str | None = None
    spark: SparkConfig = field(default_factory=SparkConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    lfs: LFConfig = field(default_factory=LFConfig)
    label_model: LabelModelConfig = field(default_factory=LabelModelConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    tasks: TasksConfig = field(default_factory=TasksConfig)
    train: Mapping[str, Any] = field(default_factory=dict)
    incremental: IncrementalConfig = field(default_factory=IncrementalConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able mapping."""
        out = json.loads(json.dumps(dataclasses.asdict(self), default=list))
        if not self.tasks.tasks:  # single-task configs keep their fingerprint
            out.pop("tasks")
        if not self.output.embedding:  # likewise
            out["output"].pop("embedding")
        inc = self.incremental
        if not (inc.enabled or inc.where or inc.files or inc.delta_versions):  # likewise
            out.pop("incremental")
        return out  # type: ignore[no-any-return]

    def fingerprint(self) -> str:
        """Stable hash of the configuration (used as the default run id)."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


_SECTIONS: dict[str, type] = {
    "spark": SparkConfig,
    "source": SourceConfig,
    "lfs": LFConfig,
    "label_model": LabelModelConfig,
    "output": OutputConfig,
    "tasks": TasksConfig,
    "incremental": IncrementalConfig,
}


def _did_you_mean(unknown: Sequence[str], allowed: Sequence[str], where: str = "") -> str:
    """``"; did you mean 'n_rows'?"`` for a misspelt key (empty when nothing is close)."""
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.7)
        if close:
            hints.append(repr(f"{where}{close[0]}"))
    return f"; did you mean {', '.join(hints)}?" if hints else ""


_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false",
               "str": "a string", "None": "null"}  # fmt: skip


def _describe(annotation: str, plural: bool = False) -> str:
    """``"int | None"`` -> ``"an integer or null"``, ``"Sequence[str]"`` -> ``"a list of
    strings"``."""
    words = []
    for alt in (a.strip() for a in annotation.split("|")):
        if alt.startswith("Sequence["):
            words.append(f"a list of {_describe(alt[9:-1], plural=True)}")
        elif alt.startswith("Mapping["):
            value_type = alt[8:-1].split(",", 1)[1].strip()
            to = "" if value_type == "Any" else f" to {_describe(value_type, plural=True)}"
            words.append(f"a mapping{to}")
        else:
            word = _TYPE_WORDS.get(alt, alt)
            words.append(word.split(" ", 1)[1] + "s" if plural and " " in word else word)
    return " or ".join(words)


def _matches(value: Any, annotation: str) -> bool:
    for alt in (a.strip() for a in annotation.split("|")):
        if alt == "Any":
            return True
        if alt == "None" and value is None:
            return True
        if alt == "int" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if alt == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if alt in ("bool", "str") and isinstance(value, bool if alt == "bool" else str):
            return True
        if alt.startswith("Sequence[") and isinstance(value, (list, tuple)):
            if all(_matches(v, alt[9:-1]) for v in value):
                return True
        if alt.startswith("Mapping[") and isinstance(value, Mapping):
            value_type = alt[8:-1].split(",", 1)[1].strip()
            if all(_matches(v, value_type) for v in value.values()):
                return True
    return False


def check_types(cls: type, raw: Mapping[str, Any], where: str) -> None:
    """Raise :class:`ConfigError` naming ``where.key``, the value and the expected type when a
    value does not match the dataclass field's annotation (``lfs.cardinality=two``).

    >>> check_types(LFConfig, {"cardinality": "two"}, "lfs")
    Traceback (most recent call last):
    ...
    wsup_spark.errors.ConfigError: lfs.cardinality must be an integer, got 'two' (str)
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        annotation = str(fields[key].type)
        if not _matches(value, annotation):
            raise ConfigError(
                f"{where}.{key} must be {_describe(annotation)}, got {value!r} "
                f"({type(value).__name__})"
            )


def _build(cls: type[T], raw: Any, where: str) -> T:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config section {where!r} must be a mapping, got {type(raw).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in config section {where!r}; allowed: {sorted(names)}"
            + _did_you_mean(unknown, sorted(names), f"{where}.")
        )
    check_types(cls, raw, where)
    return cls(**raw)


def parse_config(raw: Mapping[str, Any]) -> PipelineConfig:
    """Validate a raw mapping (e.g. from YAML) into a :class:`PipelineConfig`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config must be a mapping at top level, got {type(raw).__name__}")
    allowed = {"run_id", "train", *_SECTIONS}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown top-level config key(s) {unknown}; allowed: {sorted(allowed)}"
            + _did_you_mean(unknown, sorted(allowed))
        )
    raw = dict(raw)
    lfs_raw = dict(raw.get("lfs") or {})
    if "module" in lfs_raw:  # an undocumented alias once: now an error with the fix
        raise ConfigError(
            f"lfs.module is not a config key; did you mean lfs.modules (a list of import paths: "
            f"modules: [{lfs_raw['module']}])?"
        )
    if isinstance(lfs_raw.get("modules"), str):
        lfs_raw["modules"] = [lfs_raw["modules"]]
    raw["lfs"] = lfs_raw
    lm_raw = dict(raw.get("label_model") or {})
    if "seed" in lm_raw:  # accepted for old configs: the fit is deterministic
        lm_raw.pop("seed")
        logger.warning("label_model.seed has no effect (every label model fit is deterministic)")
    raw["label_model"] = lm_raw
    out_raw = raw.get("output")
    if isinstance(out_raw, Mapping) and "embedding" in out_raw and out_raw["embedding"] is None:
        raw["output"] = {**out_raw, "embedding": {}}  # ``embedding: null`` turns it off
    if isinstance(raw.get("tasks"), list):  # ``tasks:`` given as the list of tasks itself
        raw["tasks"] = {"tasks": raw["tasks"]}
    kwargs: dict[str, Any] = {k: _build(c, raw.get(k), k) for k, c in _SECTIONS.items()}
    run_id = raw.get("run_id")
    cfg = PipelineConfig(
        run_id=None if run_id is None else str(run_id), train=dict(raw.get("train") or {}), **kwargs
    )
    validate(cfg)
    return cfg


def validate(cfg: PipelineConfig) -> None:
    """Cross-field checks with actionable messages."""
    s = cfg.source
    if s.format not in SOURCE_FORMATS:
        raise ConfigError(f"source.format={s.format!r} is not one of {SOURCE_FORMATS}")
    if s.format != "demo" and not s.path:
        raise ConfigError(f"source.format={s.format!r} needs source.path")
    if s.format == "demo" and int(s.n_rows) < 1:
        raise ConfigError(f"source.n_rows must be >= 1, got {s.n_rows}")
    if not cfg.lfs.modules and not cfg.tasks.tasks:
        raise ConfigError("lfs.modules is empty: name at least one LF module, e.g. pkg.mod:LFS")
    if int(cfg.lfs.cardinality) < 2:
        raise ConfigError(f"lfs.cardinality must be >= 2, got {cfg.lfs.cardinality}")
    if cfg.lfs.on_error not in ("raise", "abstain"):
        raise ConfigError(f"lfs.on_error must be 'raise' or 'abstain', got {cfg.lfs.on_error!r}")
    names = list(cfg.lfs.class_names or [])
    k = int(cfg.lfs.cardinality)
    if cfg.lfs.class_names is not None and (len(names) != k or len(set(names)) != k):
        raise ConfigError(
            f"lfs.class_names {names} must name each of the lfs.cardinality="
            f"{cfg.lfs.cardinality} classes once, in class id order (0 first)"
        )
    if cfg.label_model.kind not in label_model_kinds():
        raise ConfigError(
            f"label_model.kind={cfg.label_model.kind!r} is not one of {label_model_kinds()}"
        )
    cb = cfg.label_model.class_balance
    if cb is not None and not cfg.tasks.tasks and len(cb) != int(cfg.lfs.cardinality):
        raise ConfigError(
            f"label_model.class_balance has {len(cb)} entries for lfs.cardinality="
            f"{cfg.lfs.cardinality}"
        )
    if cfg.output.writer not in ("auto", "delta-rs", "spark"):
        raise ConfigError(
            f"output.writer must be auto, delta-rs or spark, got {cfg.output.writer!r}"
        )
    if cfg.output.mode not in ("overwrite", "append"):
        raise ConfigError(f"output.mode must be overwrite or append, got {cfg.output.mode!r}")
    if cfg.tasks.tasks:
        validate_tasks(cfg)
    validate_incremental(cfg)
    validate_embedding(cfg)


def validate_embedding(cfg: PipelineConfig) -> None:
    """Checks of ``output.embedding`` (ConfigError naming the key and the fix)."""
    raw = cfg.output.embedding
    if not raw:
        return
    if not isinstance(raw, Mapping):
        raise ConfigError(f"output.embedding must be a mapping {{text_col, column, model, ...}}, "
                          f"got {raw!r}")  # fmt: skip
    unknown = sorted(set(raw) - set(EMBEDDING_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in output.embedding; allowed: "
                          f"{sorted(EMBEDDING_DEFAULTS)}"
                          + _did_you_mean(unknown, sorted(EMBEDDING_DEFAULTS), "output.embedding."))
    e = embedding_settings(cfg.output) or {}
    if not e["text_col"] or not isinstance(e["text_col"], str):
        raise ConfigError("output.embedding.text_col must name the text column to embed")
    if e["column"] in (*cfg.output.features, "id", "probs", "n_votes", "run_id", "gold"):
        raise ConfigError(f"output.embedding.column {e['column']!r} collides with a training-table "
                          "column; pick another name")  # fmt: skip
    for key in ("batch_size", "torch_threads"):
        v = e[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"output.embedding.{key} must be a positive integer, got {v!r}")
    if cfg.tasks.tasks:
        raise ConfigError("output.embedding is not supported for multi-task runs (a tasks "
                          "section) yet")  # fmt: skip


def validate_incremental(cfg: PipelineConfig) -> None:
    """Checks of the ``incremental`` section (ConfigError naming the key and the fix)."""
    inc = cfg.incremental
    named = [k for k, v in (("where", inc.where), ("files", inc.files),
                            ("delta_versions", inc.delta_versions)) if v]  # fmt: skip
    if len(named) > 1:
        raise ConfigError(
            f"incremental.{named[0]} and incremental.{named[1]} both name the new rows; keep one"
        )
    if named and not inc.enabled:
        raise ConfigError(
            f"incremental.{named[0]} is set but incremental.enabled is false; set "
            "incremental.enabled: true (or pass --incremental)"
        )
    if inc.delta_versions is not None:
        v = list(inc.delta_versions)
        if len(v) != 2 or v[0] < 0 or v[1] <= v[0]:
            raise ConfigError(
                f"incremental.delta_versions must be [from, to] with 0 <= from < to, got {v}"
            )
        if cfg.source.format != "delta":
            raise ConfigError(
                f"incremental.delta_versions needs a Delta source; source.format is "
                f"{cfg.source.format!r} (use incremental.where or incremental.files)"
            )
    if inc.enabled and cfg.tasks.tasks:
        raise ConfigError(
            "incremental runs are not supported for multi-task runs (a tasks section) yet; "
            "run without --incremental"
        )
    if inc.enabled and cfg.output.mode != "overwrite":
        raise ConfigError(
            "incremental runs keep one row per id in the votes and labels tables; they need "
            f"output.mode: overwrite (got {cfg.output.mode!r})"
        )
    if inc.enabled and cfg.source.format == "demo" and named and named[0] != "where":
        raise ConfigError(f"incremental.{named[0]} needs a file or Delta source, not the demo")


TASK_EXTRA_KEYS = ("lfs", "gold_col")
"""Keys of a task in the ``tasks`` config section beyond those of the task graph."""


def task_graph_of(tasks: TasksConfig) -> Any:
    """The :class:`~wsup_spark.tasks.TaskGraph` a ``tasks`` section declares (ConfigError naming
    the task when it is malformed)."""
    from wsup_spark.tasks import TaskGraph

    specs = []
    for i, spec in enumerate(tasks.tasks):
        if not isinstance(spec, Mapping):
            raise ConfigError(f"tasks[{i}] must be a mapping {{name, cardinality, lfs, ...}}")
        known = {"name", "cardinality", "class_names", "parent", "active_when", "parent_of",
                 *TASK_EXTRA_KEYS}  # fmt: skip
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(
                f"task {spec.get('name', f'tasks[{i}]')!r}: unknown key(s) {unknown}; known: "
                f"{sorted(known)}"
            )
        specs.append({k: v for k, v in spec.items() if k not in TASK_EXTRA_KEYS})
    d: dict[str, Any] = {"tasks": specs}
    if tasks.feasible is not None:
        d["feasible"] = [list(r) for r in tasks.feasible]
    return TaskGraph.from_dict(d)


def validate_tasks(cfg: PipelineConfig) -> None:
    """Checks of the ``tasks`` section: a valid task graph, task names usable as column names,
    each task's ``lfs`` a list of module paths, one label model kind, a class balance over the
    feasible joint label vectors."""
    import re

    graph = task_graph_of(cfg.tasks)
    if cfg.lfs.modules:
        raise ConfigError(
            "with a tasks section each task lists its own LF modules (tasks[i].lfs); "
            f"move lfs.modules {list(cfg.lfs.modules)} to the task(s) they vote on"
        )
    n_lfs = 0
    for spec in cfg.tasks.tasks:
        name = spec["name"]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
            raise ConfigError(
                f"task name {name!r} must be an identifier (letters, digits, _): it names the "
                "labels table's columns probs_<task> and label_<task>"
            )
        mods = spec.get("lfs", [])
        mods = [mods] if isinstance(mods, str) else mods
        if not isinstance(mods, (list, tuple)) or not all(isinstance(x, str) for x in mods):
            raise ConfigError(
                f"tasks[{name!r}].lfs must be a list of LF module paths, got {mods!r}"
            )
        n_lfs += len(mods)
        gold = spec.get("gold_col")
        if gold is not None and not isinstance(gold, str):
            raise ConfigError(f"tasks[{name!r}].gold_col must be a column name, got {gold!r}")
    if n_lfs == 0:
        raise ConfigError("no task lists LF modules: give at least one task an lfs: [pkg.mod:LFS]")
    if cfg.label_model.kind != "label_model":
        raise ConfigError(
            f"label_model.kind={cfg.label_model.kind!r}: a multi-task run fits the multi-task "
            "label model; leave label_model.kind at label_model"
        )
    cb = cfg.label_model.class_balance
    if cb is not None and len(cb) != graph.n_joint:
        raise ConfigError(
            f"label_model.class_balance has {len(cb)} entries; a multi-task run needs one per "
            f"feasible joint label vector ({graph.n_joint}: {graph.feasible.tolist()})"
        )


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides in place (value parsed as a YAML scalar) and return raw.

    >>> apply_overrides({"source": {"n_rows": 10}}, ["source.n_rows=5", "output.path=/tmp/x"])
    {'source': {'n_rows': 5}, 'output': {'path': '/tmp/x'}}
    """
    import yaml

    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key.path=value, got {item!r}")
        key, _, value = item.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"--set has an empty key in {item!r}")
        node = raw
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {key}: {p!r} is not a section")
            node = nxt
        try:
            node[parts[-1]] = yaml.safe_load(value) if value != "" else None
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(
                f"--set {item!r}: the value is not valid YAML ({problem}); quote it, e.g. "
                f"--set '{key}=\"{value}\"'"
            ) from None
    return raw


def yaml_error_line(path: str, text: str, e: Exception) -> str:
    """One line for a YAML syntax error: file, line, column, the problem and the offending
    line (1-based, as editors count).

    >>> import yaml
    >>> text = "source:\\n  path: [data.csv\\nlfs: {}\\n"
    >>> try:
    ...     yaml.safe_load(text)
    ... except yaml.YAMLError as e:
    ...     print(yaml_error_line("job.yaml", text, e).replace(" (", "\\n(").replace("; ", "\\n"))
    job.yaml, line 3, column 4: YAML syntax error: expected ',' or ']', but got ':'
    (while parsing a flow sequence that starts at line 2, column 9: '  path: [data.csv')
    the line: 'lfs: {}'
    """
    lines = text.splitlines()
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if mark is None:
        return f"{path}: YAML syntax error: {problem}"
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}"
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    ctx = ""
    if context and cmark is not None and cmark.line != mark.line:
        started = lines[cmark.line] if cmark.line < len(lines) else ""
        ctx = (f" ({context} that starts at line {cmark.line + 1}, column {cmark.column + 1}: "
               f"{started!r})")  # fmt: skip
    elif context:
        ctx = f" ({context})"
    line = lines[mark.line] if mark.line < len(lines) else "<end of file>"
    return f"{where}: YAML syntax error: {problem}{ctx}; the line: {line!r}"


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Read a YAML config with ``yaml.safe_load``, apply overrides, validate."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    text = p.read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(yaml_error_line(str(p), text, e)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping at top level")
    return parse_config(apply_overrides(raw, overrides))
