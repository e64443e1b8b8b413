"""LFs for the radiology demo (NORMAL=0, ABNORMAL=1): the talk's three plus our own.

A mix of row LFs, vectorized LFs and templates with deliberately varied quality: the pneumo regex
and the ontology lookup fire on negated mentions too (noisy), the two ontology LFs share most of
their logic (correlated), and the negation-aware ones are precise but cover less.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from wsup_spark.lf.base import ABSTAIN, Record, labeling_function, vectorized_lf
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
