"""The radiology demo generator and LFs; the YouTube spam LFs on the real CSVs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wsup_spark.demo import radiology_lfs, youtube
from wsup_spark.demo.radiology import generate_reports, make_corpus
from wsup_spark.labelmodel import LFStats, MajorityVote
from wsup_spark.lf.kernel import apply_lfs_local


def test_generator_is_a_function_of_id_and_seed():
    ids = np.arange(5000)
    a = generate_reports(ids, seed=3)
    b = generate_reports(ids[::-1], seed=3)
    assert (a["text"] == b["text"][::-1]).all() and (a["gold"] == b["gold"][::-1]).all()
    parts = [generate_reports(c, 3)["text"] for c in np.array_split(ids, 7)]
    assert (np.concatenate(parts) == a["text"]).all()
    assert not (generate_reports(ids, seed=4)["text"] == a["text"]).all()
    assert 0.35 < a["gold"].mean() < 0.45


def test_corpus_has_the_talks_traps():
    c = generate_reports(np.arange(20_000), 0)
    normal_text = c["text"][c["gold"] == 0]
    assert any("pneumothorax" in t for t in normal_text), "negated pneumo mentions in normals"
    assert any(len(t.split()) < 6 for t in c["text"][c["gold"] == 1]), "short abnormal reports"
    assert any("within normal limits" in t for t in normal_text)


def test_demo_lfs_have_varied_quality():
    c = generate_reports(np.arange(30_000), 0)
    L = apply_lfs_local(pd.DataFrame(c), radiology_lfs.LFS, 2, "id")
    y = c["gold"]
    assert len(radiology_lfs.LFS) >= 6
    acc = [(L[L[:, j] >= 0, j] == y[L[:, j] >= 0]).mean() for j in range(L.shape[1])]
    assert min(acc) < 0.7 < max(acc), acc  # some noisy, some precise
    assert (L >= 0).any(axis=1).mean() > 0.9


def test_make_corpus_on_spark_matches_generator(spark):
    df = make_corpus(spark, n_rows=3000, seed=1, num_partitions=3).toPandas().sort_values("id")
    ref = generate_reports(np.arange(3000), 1)
    assert len(df) == 3000
    assert (df["text"].to_numpy() == ref["text"]).all()
    assert (df["gold"].to_numpy() == ref["gold"]).all()


def test_youtube_lfs_on_the_real_csvs(shared_data):
    df = youtube.load_csvs(str(shared_data / "youtube_spam")).drop_duplicates("COMMENT_ID")
    df = df.rename(columns={"CONTENT": "text"})
    L = apply_lfs_local(df, youtube.LFS, 2, "COMMENT_ID")
    mv = MajorityVote(2).fit(LFStats.from_matrix(L, 2)).predict(L)
    assert (mv == df["CLASS"].to_numpy()).mean() > 0.8
