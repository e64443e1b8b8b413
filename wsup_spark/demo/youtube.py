"""Spam LFs for the UCI YouTube Spam Collection (HAM=0, SPAM=1), in the spirit of Snorkel's
spam tutorial. The corpus column holding the comment must be named ``text`` (see
``conf/youtube.yaml``, which renames CONTENT)."""

from __future__ import annotations

import glob
import os
from typing import Any

import numpy as np
import pandas as pd

from wsup_spark.errors import DataError
from wsup_spark.lf.base import ABSTAIN, Record, labeling_function, vectorized_lf
from wsup_spark.lf.templates import keyword_lf, lookup_lf, regex_lf

HAM, SPAM = 0, 1
CARDINALITY = 2
CLASS_NAMES = ["HAM", "SPAM"]

lf_check_out = keyword_lf("lf_check_out", ["check out", "check it out", "checkout"], SPAM)
lf_my_channel = regex_lf("lf_my_channel", r"\bmy (channel|video|page|music|song|vids?)\b", SPAM)
lf_subscribe = keyword_lf("lf_subscribe", ["subscribe", "subscribers", "sub4sub"], SPAM)
lf_link = regex_lf("lf_link", r"https?://|www\.|\.com\b", SPAM)
lf_please = keyword_lf("lf_please", ["please", "plz", "pls"], SPAM)
lf_money = lookup_lf(
    "lf_money",
    {"money", "cash", "free", "earn", "win", "prize", "gift"},
    "text",
    label=SPAM,
    match="token",
)
lf_song_words = keyword_lf(
    "lf_song_words", ["song", "love this", "beautiful", "best", "voice", "lyrics", "dance"], HAM
)


@labeling_function(columns=["text"])
def lf_short_comment(x: Record) -> int:
    """Very short comments ("so beautiful", "lol") are usually ham."""
    return HAM if x.text is not None and len(x.text.split()) < 5 else ABSTAIN


@vectorized_lf(columns=["text"])
def lf_many_caps_or_bangs(df: pd.DataFrame) -> np.ndarray:
    """Shouting (many capitals or '!!!') is a spam signal."""
    t = df["text"].fillna("")
    caps = t.str.count(r"[A-Z]") / t.str.len().clip(lower=1)
    hit = (caps > 0.5) & (t.str.len() > 20) | t.str.contains("!!!", regex=False)
    return np.where(hit, SPAM, ABSTAIN)


@vectorized_lf(columns=["text"])
def lf_views_milestone(df: pd.DataFrame) -> np.ndarray:
    """Comments about view counts / 'who is watching in 2015' are ham."""
    hit = (
        df["text"]
        .fillna("")
        .str.contains(r"\b(?:billion|views|watching|20\d\d)\b", case=False, regex=True)
    )
    return np.where(hit, HAM, ABSTAIN)


LFS = [
    lf_check_out,
    lf_my_channel,
    lf_subscribe,
    lf_link,
    lf_please,
    lf_money,
    lf_song_words,
    lf_short_comment,
    lf_many_caps_or_bangs,
    lf_views_milestone,
]


def load_csvs(path: str) -> Any:
    """The five CSVs as one pandas DataFrame (in memory; for tests and notebooks)."""
    import pandas as pd

    files = sorted(glob.glob(os.path.join(path, "*.csv")))
    if not files:
        raise DataError(f"no CSV files under {path!r}; point it at the youtube_spam folder")
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
