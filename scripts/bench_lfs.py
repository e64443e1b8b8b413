"""The 20-LF benchmark set over the radiology demo corpus (shared by the benchmark scripts).

Mixed on purpose: regex, keyword, lookup and threshold LFs, row LFs and vectorized LFs.
Import path for configs: ``bench_lfs:LFS`` with ``scripts/`` on PYTHONPATH (the benchmark scripts
add it), or ``bench_lfs:ROW_LFS`` / ``bench_lfs:VECTOR_LFS`` for the two halves.

``REGEX10_ROW`` / ``REGEX10_VECTOR`` / ``REGEX10_FUNCS``: 10 regex LFs as row LFs, as vectorized
LFs and as plain ``str -> int`` functions, over :func:`short_texts` (``bench_apply.py --preset
regex10``).
"""

from __future__ import annotations

import re

import numpy as np

from wsup_spark.demo import radiology_lfs as demo
from wsup_spark.lf.base import ABSTAIN, labeling_function, vectorized_lf
from wsup_spark.lf.templates import keyword_lf, lookup_lf, regex_lf, threshold_lf

N, A = 0, 1
_FINDING = re.compile(r"\b(consolidation|effusion|edema|opacity|nodular|fracture)\b", re.I)


@labeling_function(columns=["text"])
def row_finding_regex(x):
    return A if _FINDING.search(x.text) else ABSTAIN


@labeling_function(columns=["text"])
def row_no_acute(x):
    return N if "no acute" in x.text.lower() else ABSTAIN


@labeling_function(columns=["text"])
def row_many_sentences(x):
    return A if x.text.count(".") >= 4 else ABSTAIN


@labeling_function(columns=["text"])
def row_clear(x):
    return N if "clear" in x.text else ABSTAIN


@labeling_function(columns=["patient_age"])
def row_age_young(x):
    return N if x.patient_age is not None and x.patient_age < 30 else ABSTAIN


@labeling_function(columns=["text"], resources={"kb": {"cardiomegaly", "emphysema", "mass"}})
def row_kb_words(x, kb):
    return A if any(w.strip(".,").lower() in kb for w in x.text.split()) else ABSTAIN


@labeling_function(columns=["text"])
def row_comparison(x):
    return N if x.text.startswith("Compar") else ABSTAIN


@vectorized_lf(columns=["text"])
def vec_long(df):
    return np.where(df["text"].str.len() > 150, A, ABSTAIN)


@vectorized_lf(columns=["text"])
def vec_normal_word(df):
    return np.where(df["text"].str.contains("normal", regex=False), N, ABSTAIN)


ROW_LFS = [
    demo.lf_short_report, demo.lf_ontology_not_negated, row_finding_regex, row_no_acute,
    row_many_sentences, row_clear, row_age_young, row_kb_words, row_comparison,
]  # fmt: skip
VECTOR_LFS = [
    demo.lf_pneumo_regex, demo.lf_disease_ontology, demo.lf_normal_phrases,
    demo.lf_severity_words, demo.lf_negated_findings, demo.lf_interval_change,
    regex_lf("vec_rib_fracture", r"rib fracture", A),
    keyword_lf("vec_unchanged", ["unchanged", "stable"], N),
    lookup_lf("vec_kb_exact", {"Normal chest.": N, "Cardiomegaly.": A}, "text"),
    threshold_lf("vec_age_old", "patient_age", A, gt=75),
    vec_long, vec_normal_word,
]  # fmt: skip
LFS = ROW_LFS[:9] + VECTOR_LFS[:11]
assert len(LFS) == 20


# --- preset "regex10": 1M short texts x 10 regex LFs, in three forms ---------------------------
#: (name, pattern, label): the same patterns as row LFs (Python ``re``), as vectorized LFs (the
#: ``regex_lf`` template: RE2 on pyarrow) and as plain functions of a string (the one-process
#: reference of ``bench_apply.py --preset regex10``). Case-sensitive, ~0.1-0.4 us per call on
#: these texts: cheap LFs, so any per-row overhead of the applier shows.
REGEX10_PATTERNS = [
    ("pneumo", r"pneumo(thorax|nia)", A),
    ("no_acute", r"No acute", N),
    ("effusion", r"effusions?", A),
    ("opacity", r"consolidation|opacit", A),
    ("clear", r"clear", N),
    ("wnl", r"normal limits", N),
    ("cardiomegaly", r"[Cc]ardiomegaly", A),
    ("fracture", r"fracture", A),
    ("unchanged", r"unchanged|stable", N),
    ("edema", r"edema|emphysema", A),
]


def short_texts(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``id`` 0..n-1 and ``text``: one sentence of the radiology demo's phrase banks per row
    (35 characters on average), a pure function of (id, seed)."""
    from wsup_spark.demo import radiology as r

    bank = np.concatenate([r.NORMAL_SENTENCES, r.FILLER_SENTENCES, r.FINDINGS,
                           r.SHORT_ABNORMAL, r.HEDGED, r.SHORT_NORMAL])  # fmt: skip
    ids = np.arange(n, dtype=np.int64)
    return {"id": ids, "text": r._pick(bank, r._uniform(ids, seed, 0))}


def _regex_fn(pattern: str, label: int):
    search = re.compile(pattern).search

    def vote(text):
        return label if search(text) else ABSTAIN

    return vote


def _regex_row_lf(name: str, pattern: str, label: int):
    search = re.compile(pattern).search

    @labeling_function(name=f"row_{name}", columns=["text"])
    def lf(x):
        return label if search(x.text) else ABSTAIN

    return lf


#: Plain ``str -> int`` functions: the reference calls them column-at-a-time over a list of str.
REGEX10_FUNCS = [_regex_fn(p, lab) for _, p, lab in REGEX10_PATTERNS]
#: Row LFs reading ``x.text`` (what most users write).
REGEX10_ROW = [_regex_row_lf(name, p, lab) for name, p, lab in REGEX10_PATTERNS]
#: The same patterns as vectorized LFs (``regex_lf``: RE2 over the Arrow column).
REGEX10_VECTOR = [regex_lf(f"vec_{name}", p, lab, ignore_case=False)
                  for name, p, lab in REGEX10_PATTERNS]  # fmt: skip
