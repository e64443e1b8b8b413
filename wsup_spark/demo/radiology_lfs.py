"""LFs for the radiology demo (NORMAL=0, ABNORMAL=1): the talk's three plus our own.

A mix of row LFs, vectorized LFs and templates with deliberately varied quality: the pneumo regex
and the ontology lookup fire on negated mentions too (noisy), the two ontology LFs share most of
their logic (correlated), and the negation-aware ones are precise but cover less.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from wsup_spark.lf.base import (
    ABSTAIN,
    LabelingFunction,
    Record,
    labeling_function,
    vectorized_lf,
)
from wsup_spark.lf.templates import keyword_lf, lookup_lf, regex_lf

NORMAL, ABNORMAL = 0, 1
CARDINALITY = 2
CLASS_NAMES = ["NORMAL", "ABNORMAL"]

DISEASE_ONTOLOGY = {
    "pneumothorax",
    "pneumonia",
    "consolidation",
    "effusion",
    "effusions",
    "edema",
    "cardiomegaly",
    "atelectasis",
    "opacity",
    "opacities",
    "nodular",
    "mass",
    "fracture",
    "emphysema",
}
_NEGATION = re.compile(r"\b(no|without|negative for)\b[^.]*$", re.IGNORECASE)
_TOKEN = re.compile(r"[a-z]+")

# The talk's LFs ---------------------------------------------------------------------------------
lf_pneumo_regex = regex_lf("lf_pneumo_regex", r"pneumo(thorax|nia)", ABNORMAL)


@labeling_function()
def lf_short_report(x: Record) -> int:
    """Short reports are usually normal (talk: fewer than 15 words → NORMAL)."""
    return NORMAL if len(x.text.split()) < 15 else ABSTAIN


lf_disease_ontology = lookup_lf(
    "lf_disease_ontology", DISEASE_ONTOLOGY, "text", label=ABNORMAL, match="token"
)


# Our own ----------------------------------------------------------------------------------------
@labeling_function(resources={"ontology": DISEASE_ONTOLOGY})
def lf_ontology_not_negated(x: Record, ontology: set[str]) -> int:
    """A disease term outside a negated clause → ABNORMAL (negation-aware ontology lookup)."""
    for sentence in x.text.split("."):
        for m in _TOKEN.finditer(sentence.lower()):
            if m.group() in ontology and not _NEGATION.search(sentence[: m.start()]):
                return ABNORMAL
    return ABSTAIN


lf_normal_phrases = keyword_lf(
    "lf_normal_phrases",
    ["within normal limits", "lungs are clear", "no acute", "unremarkable", "normal chest"],
    NORMAL,
)


@vectorized_lf(columns=["text"])
def lf_severity_words(df: pd.DataFrame) -> np.ndarray:
    """Severity adjectives usually qualify a finding → ABNORMAL."""
    hit = df["text"].str.contains(
        r"\b(?:moderate|large|severe|mild|small|enlarged)\b", case=False, regex=True
    )
    return np.where(hit, ABNORMAL, ABSTAIN)


@vectorized_lf(columns=["text"])
def lf_negated_findings(df: pd.DataFrame) -> np.ndarray:
    """Explicitly negated findings → NORMAL (noisy: abnormal reports negate other findings too)."""
    hit = df["text"].str.contains(
        r"\bno (?:focal|evidence|pleural|pneumothorax)", case=False, regex=True
    )
    return np.where(hit, NORMAL, ABSTAIN)


lf_interval_change = keyword_lf("lf_interval_change", ["interval increase", "new"], ABNORMAL)

LFS = [
    lf_pneumo_regex,
    lf_short_report,
    lf_disease_ontology,
    lf_ontology_not_negated,
    lf_normal_phrases,
    lf_severity_words,
    lf_negated_findings,
    lf_interval_change,
]


# Multi-task demo: the finding type of an abnormal report --------------------------------------
# Task ``finding`` (defined only when the report is ABNORMAL): 0 pneumonia, 1 pneumothorax,
# 2 effusion, 3 cardiac, 4 other (``wsup_spark.demo.radiology.FINDING_TYPES``). One LF per type
# votes it when one of its terms appears outside a negated clause — noisy where a report has a
# second finding of another type or a hedged one; "opacity" is ambiguous (pneumonia or other);
# the last votes only when all non-negated, non-hedged terms agree (precise, covers less). Every
# finding vote also says "ABNORMAL": the multi-task label model uses it for both tasks.
PNEUMONIA, PNEUMOTHORAX, EFFUSION, CARDIAC, OTHER = range(5)
FINDING_TERMS = {
    "pneumonia": PNEUMONIA, "consolidation": PNEUMONIA, "airspace": PNEUMONIA,
    "pneumothorax": PNEUMOTHORAX,
    "effusion": EFFUSION, "effusions": EFFUSION,
    "cardiomegaly": CARDIAC, "edema": CARDIAC, "cardiac": CARDIAC,
    "nodular": OTHER, "mass": OTHER, "atelectasis": OTHER, "fracture": OTHER, "emphysema": OTHER,
}  # fmt: skip


def _finding_terms(text: str, terms: dict[str, int], skip_hedged: bool = False) -> list[int]:
    """Types of the finding terms outside negated (and, if asked, hedged) clauses, in order; a
    healed fracture is no finding."""
    found = []
    for sentence in text.split("."):
        low = sentence.lower()
        if "healed" in low:
            continue
        if skip_hedged and ("excluded" in low or "possible" in low or " may " in low):
            continue
        for m in _TOKEN.finditer(low):
            if m.group() in terms and not _NEGATION.search(sentence[: m.start()]):
                found.append(terms[m.group()])
    return found


def _finding_lf(finding: int, name: str) -> LabelingFunction:
    """An LF voting ``finding`` when one of its terms appears outside a negated clause."""

    @labeling_function(name=name, resources={"terms": FINDING_TERMS})
    def lf(x: Record, terms: dict[str, int]) -> int:
        return finding if finding in _finding_terms(x.text, terms) else ABSTAIN

    return lf


lf_find_pneumonia = _finding_lf(PNEUMONIA, "lf_find_pneumonia")
lf_find_pneumothorax = _finding_lf(PNEUMOTHORAX, "lf_find_pneumothorax")
lf_find_effusion = _finding_lf(EFFUSION, "lf_find_effusion")
lf_find_cardiac = _finding_lf(CARDIAC, "lf_find_cardiac")
lf_find_other = _finding_lf(OTHER, "lf_find_other")
lf_find_opacity = regex_lf("lf_find_opacity", r"\bopacit", OTHER)


@labeling_function(resources={"terms": FINDING_TERMS})
def lf_single_finding(x: Record, terms: dict[str, int]) -> int:
    """The finding type when every non-negated, non-hedged finding term has the same type."""
    found = set(_finding_terms(x.text, terms, skip_hedged=True))
    return found.pop() if len(found) == 1 else ABSTAIN


FINDING_LFS = [
    lf_find_pneumonia,
    lf_find_pneumothorax,
    lf_find_effusion,
    lf_find_cardiac,
    lf_find_other,
    lf_find_opacity,
    lf_single_finding,
]
