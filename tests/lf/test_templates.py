"""LF templates on Arrow batches: keyword, regex (RE2 + re fallback), lookup, threshold, model."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from wsup_spark.errors import LFError
from wsup_spark.lf import templates
from wsup_spark.lf.kernel import apply_lfs_local
from wsup_spark.lf.templates import keyword_lf, lookup_lf, model_lf, regex_lf, threshold_lf

BATCH = pa.record_batch(
    {
        "text": ["No pneumothorax.", "Large effusion", None, "pneumonia?", "NEW opacity"],
        "age": [91.0, 40.0, None, 85.5, 80.0],
        "code": ["J18", "I50", None, "J93", "X"],
    }
)


def test_keyword_whole_word_and_case():
    lf = keyword_lf("kw", ["effusion", "new"], 1)
    assert lf(BATCH).tolist() == [-1, 1, -1, -1, 1]
    assert keyword_lf("kw2", ["new"], 1, case_sensitive=True)(BATCH).tolist() == [-1] * 5
    assert keyword_lf("kw3", ["pneumo"], 1, whole_word=False)(BATCH).tolist() == [1, -1, -1, 1, -1]
    with pytest.raises(LFError, match="non-empty"):
        keyword_lf("empty", [], 1)


def test_regex_re2_and_python_fallback_agree():
    re2 = regex_lf("rx", r"pneumo(thorax|nia)", 1)
    # a look-behind is not RE2: the template falls back to Python's re, same semantics otherwise
    py = regex_lf("rx_py", r"(?<!No )pneumo(thorax|nia)", 1)
    assert re2(BATCH).tolist() == [1, -1, -1, 1, -1]
    assert py(BATCH).tolist() == [-1, -1, -1, 1, -1]
    with pytest.raises(LFError, match="invalid regex"):
        regex_lf("bad", "(", 1)


def test_lookup_exact_token_and_dict():
    assert lookup_lf("kb", {"J18", "J93"}, "code", label=1)(BATCH).tolist() == [1, -1, -1, 1, -1]
    icd = {"J18": 1, "I50": 0}
    assert lookup_lf("kbd", icd, "code")(BATCH).tolist() == [1, 0, -1, -1, -1]
    tok = lookup_lf("kbt", {"Opacity", "effusion"}, "text", label=1, match="token")
    assert tok(BATCH).tolist() == [-1, 1, -1, -1, 1]
    with pytest.raises(LFError, match="needs label"):
        lookup_lf("nolabel", {"a"}, "code")


def test_threshold_combines_bounds_and_nulls_abstain():
    assert threshold_lf("old", "age", 1, gt=80)(BATCH).tolist() == [1, -1, -1, 1, -1]
    assert threshold_lf("band", "age", 0, ge=80, lt=90)(BATCH).tolist() == [-1, -1, -1, 0, 0]
    with pytest.raises(LFError, match="at least one"):
        threshold_lf("none", "age", 1)


def test_model_lf_loads_once_per_process():
    calls = []

    class TinyModel:
        """A real (tiny) classifier: logistic score on the text length."""

        def predict(self, texts):
            z = np.array([len(t or "") for t in texts]) - 12.0
            return np.where(1 / (1 + np.exp(-z)) > 0.5, 1, 0)

    def loader():
        calls.append(1)
        return TinyModel()

    lf = model_lf("tiny", loader, "text", lambda mdl, values: mdl.predict(values))
    templates._MODEL_CACHE.clear()
    table = pa.Table.from_batches([BATCH] * 4)
    L = apply_lfs_local(table, [lf], 2, batch_size=3)
    assert len(calls) == 1, "the loader runs once per worker process, not per batch"
    assert L[:5, 0].tolist() == [1, 1, 0, 0, 0]
