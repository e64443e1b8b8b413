"""LF templates: keyword, regex, lookup (distant supervision), numeric threshold, wrapped model.

Each returns a :class:`~wsup_spark.lf.base.LabelingFunction`. Keyword, regex and threshold LFs are
vectorized on ``pyarrow.compute`` (``batch_format="arrow"``), i.e. they run at C speed over whole
Arrow batches; nulls abstain. pyarrow is imported lazily (at call time, on the executors).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import numpy as np

from wsup_spark.errors import LFError
from wsup_spark.lf.base import ABSTAIN, LabelingFunction

_TOKEN = re.compile(r"[a-z0-9']+")
_MODEL_CACHE: dict[str, Any] = {}


def _check_label(name: str, label: Any) -> int:
    if not isinstance(label, (int, np.integer)) or isinstance(label, bool) or label < 0:
        raise LFError(f"LF {name!r}: label must be a class id >= 0, got {label!r}")
    return int(label)


def _hits_to_votes(hits: Any, label: int) -> np.ndarray:
    """Boolean Arrow array (nulls → False) → int8 votes."""
    import pyarrow.compute as pc

    mask = pc.fill_null(hits, False).to_numpy(zero_copy_only=False)
    return np.where(mask, label, ABSTAIN).astype(np.int8)


def regex_lf(
    name: str, pattern: str, label: int, column: str = "text", ignore_case: bool = True
) -> LabelingFunction:
    """Vote ``label`` where ``pattern`` matches ``column``.

    RE2 (pyarrow) when the pattern is valid RE2; otherwise (look-arounds, back-references)
    Python's ``re`` over the column — decided once, here.

    Examples
    --------
    >>> import pyarrow as pa
    >>> lf = regex_lf("pneumo", r"pneumo(thorax|nia)", 1)
    >>> lf(pa.record_batch({"text": ["Pneumonia.", "clear", None]})).tolist()
    [1, -1, -1]
    """
    label = _check_label(name, label)
    try:
        re.compile(pattern)
    except re.error as e:
        raise LFError(f"LF {name!r}: invalid regex {pattern!r}: {e}") from e
    use_re2 = _is_re2(pattern)
    flags = re.IGNORECASE if ignore_case else 0

    def f(batch: Any) -> np.ndarray:
        col = batch.column(column)
        if use_re2:
            import pyarrow.compute as pc

            return _hits_to_votes(
                pc.match_substring_regex(col, pattern, ignore_case=ignore_case), label
            )
        rx = re.compile(pattern, flags)
        return np.array(
            [label if (t is not None and rx.search(t)) else ABSTAIN for t in col.to_pylist()],
            dtype=np.int8,
        )

    return LabelingFunction(
        name=name, func=f, kind="batch", columns=(column,), batch_format="arrow", resources={}
    )


def _is_re2(pattern: str) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array([""]), pattern)
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


def keyword_lf(
    name: str,
    keywords: Iterable[str],
    label: int,
    column: str = "text",
    case_sensitive: bool = False,
    whole_word: bool = True,
) -> LabelingFunction:
    """Vote ``label`` where any keyword occurs in ``column``.

    >>> import pyarrow as pa
    >>> lf = keyword_lf("wnl", ["within normal limits", "unremarkable"], 0)
    >>> lf(pa.record_batch({"text": ["Heart within normal limits.", "remarkably", None]})).tolist()
    [0, -1, -1]
    """
    words = [w for w in keywords if w]
    if not words:
        raise LFError(f"LF {name!r}: keywords must be a non-empty list of strings")
    alt = "|".join(re.escape(w) for w in words)
    pattern = rf"\b(?:{alt})\b" if whole_word else f"(?:{alt})"
    return regex_lf(name, pattern, label, column, ignore_case=not case_sensitive)


def lookup_lf(
    name: str,
    kb: Mapping[Any, int] | Iterable[Any],
    column: str,
    label: int | None = None,
    match: Literal["exact", "token"] = "exact",
) -> LabelingFunction:
    """Distant supervision from a knowledge base.

    ``kb`` is a set (→ vote ``label`` on membership) or a dict ``value → class id``. ``match=
    "exact"`` compares the whole column value; ``"token"`` any lower-cased word token of a text
    column (first KB hit in reading order wins).

    >>> import pyarrow as pa
    >>> lf = lookup_lf("ont", {"effusion", "edema"}, "text", label=1, match="token")
    >>> lf(pa.record_batch({"text": ["Small Effusion.", "clear"]})).tolist()
    [1, -1]
    """
    if isinstance(kb, Mapping):
        table = {k: int(v) for k, v in kb.items()}
        for v in table.values():
            _check_label(name, v)
    else:
        if label is None:
            raise LFError(f"LF {name!r}: a set KB needs label=<class id>")
        lab = _check_label(name, label)
        table = dict.fromkeys(kb, lab)
    if not table:
        raise LFError(f"LF {name!r}: the knowledge base is empty")
    if match not in ("exact", "token"):
        raise LFError(f"LF {name!r}: match must be 'exact' or 'token', got {match!r}")
    if match == "token":
        table = {str(k).lower(): v for k, v in table.items()}

    def f(batch: Any, table: dict[Any, int]) -> np.ndarray:
        values = batch.column(column).to_pylist()
        if match == "exact":
            return np.array(
                [table.get(v, ABSTAIN) if v is not None else ABSTAIN for v in values],
                dtype=np.int16,
            )
        out = np.full(len(values), ABSTAIN, np.int16)
        for i, v in enumerate(values):
            if v is None:
                continue
            for tok in _TOKEN.findall(v.lower()):
                hit = table.get(tok)
                if hit is not None:
                    out[i] = hit
                    break
        return out

    return LabelingFunction(
        name=name,
        func=f,
        kind="batch",
        columns=(column,),
        batch_format="arrow",
        resources={"table": table},
    )


def threshold_lf(
    name: str,
    column: str,
    label: int,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> LabelingFunction:
    """Vote ``label`` where the numeric ``column`` satisfies every given bound (nulls abstain).

    >>> import pyarrow as pa
    >>> threshold_lf("old", "age", 1, gt=80)(pa.record_batch({"age": [90, 50, None]})).tolist()
    [1, -1, -1]
    """
    label = _check_label(name, label)
    bounds = {"greater": gt, "greater_equal": ge, "less": lt, "less_equal": le}
    bounds = {k: v for k, v in bounds.items() if v is not None}
    if not bounds:
        raise LFError(f"LF {name!r}: give at least one of gt, ge, lt, le")

    def f(batch: Any) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        col = batch.column(column)
        t = col.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
                or pa.types.is_null(t)):  # fmt: skip
            raise LFError(
                f"LF {name!r} compares column {column!r} with numbers, but the column holds {t} "
                "values: read it as numbers (CSV: source.options.inferSchema: true, the "
                "default; or cast it) or use another template"
            )
        hit = None
        for op, v in bounds.items():
            h = getattr(pc, op)(col, v)
            hit = h if hit is None else pc.and_(hit, h)
        return _hits_to_votes(hit, label)

    return LabelingFunction(
        name=name, func=f, kind="batch", columns=(column,), batch_format="arrow"
    )


def model_lf(
    name: str, loader: Callable[[], Any], column: str, predict: Callable[[Any, list[Any]], Any]
) -> LabelingFunction:
    """Wrap an off-the-shelf model: ``loader()`` runs at most once per worker process.

    ``predict(model, values)`` gets the column's values for a whole batch and returns one vote per
    value (class id or -1). The loaded model is cached in the worker under the LF's name, so it is
    loaded once per Python worker, not per row or per batch.
    """

    key = f"{name}:{getattr(loader, '__module__', '')}.{getattr(loader, '__qualname__', '')}"

    def f(batch: Any) -> Any:
        model = _MODEL_CACHE.get(key)
        if model is None:
            model = _MODEL_CACHE[key] = loader()
        return np.asarray(predict(model, batch.column(column).to_pylist()))

    return LabelingFunction(
        name=name, func=f, kind="batch", columns=(column,), batch_format="arrow"
    )
