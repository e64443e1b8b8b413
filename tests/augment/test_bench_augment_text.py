"""scripts/bench_augment.py --text on a tiny synthetic WRENCH folder: the plumbing and the JSON
format, with a hashed bag-of-trigrams stand-in for the sentence encoder (no model, no WordNet)."""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench_augment
from augment_helpers import bench_json

SPAM = ["check out my channel {n} now", "subscribe to my page for {n} free gifts",
        "win {n} dollars click my link", "visit my site and subscribe {n} times"]  # fmt: skip
HAM = ["great song love it {n}", "this video is {n} years old and still good",
       "her singing is amazing", "best music video i have seen in {n} days"]  # fmt: skip


def write_split(path: Path, n: int, seed: int) -> None:
    """n rows, alternating spam (1) / ham (0); three LFs ("my", "subscribe|click" -> spam;
    "song|video" -> ham), some rows uncovered."""
    rng = np.random.default_rng(seed)
    rows = {}
    for i in range(n):
        y = i % 2
        text = (SPAM if y else HAM)[int(rng.integers(4))].format(n=int(rng.integers(1, 99)))
        lf1 = 1 if " my " in f" {text} " else -1
        lf2 = 0 if any(w in text for w in ("song", "video")) else -1
        lf3 = 1 if any(w in text for w in ("subscribe", "click")) else -1
        rows[str(i)] = {"label": y, "weak_labels": [lf1, lf2, lf3], "data": {"text": text}}
    path.write_text(json.dumps(rows))


def fake_encode(texts: list[str], model: str, cache: str | None) -> np.ndarray:
    """Hashed character trigrams → 32 dims, L2-normalised (deterministic, no model)."""
    out = np.zeros((len(texts), 32), np.float32)
    for i, t in enumerate(texts):
        for j in range(max(1, len(t) - 2)):
            out[i, zlib.crc32(t[j : j + 3].encode()) % 32] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def test_text_mode_plumbing(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    data = tmp_path / "tiny"
    data.mkdir()
    for name, n, seed in (("train", 48, 0), ("valid", 12, 1), ("test", 16, 2)):
        write_split(data / f"{name}.json", n, seed)
    (data / "label.json").write_text(json.dumps({"0": "ham", "1": "spam"}))
    calls: list[list[str]] = []

    def encode(texts: list[str], model: str, cache: str | None) -> np.ndarray:
        calls.append(list(texts))
        return fake_encode(texts, model, cache)

    monkeypatch.setattr(bench_augment, "encode_texts", encode)
    out = tmp_path / "res.json"
    rc = bench_augment.main([
        "--text", str(data), "--seeds", "2", "--json", str(out), "--epochs", "2",
        "--learn-steps", "2", "--learn-batch", "4", "--tfs", "random_swap,random_delete,typo",
        "--cache", "", "--quiet",
    ])  # fmt: skip
    assert rc == 0
    res = bench_json(out, seeds=2)
    assert res["seeds_done"] == 2 and res["metric"] == "acc" and 0 <= res["label_model"] <= 1
    assert res["config"]["tfs"] == ["random_swap", "random_delete", "typo"]
    assert 0 < res["config"]["covered_rows"] < 48
    assert set(res["changed_share"]) == {"random", "trivial", "meanfield", "sequence"}
    assert res["changed_share"]["random"] > 0.5
    assert set(res["learned_action_marginals"]) == {"meanfield", "sequence"}
    assert "meanfield-trivial" in res["paired_differences"]
    # the three splits are encoded whole first; afterwards no text is ever encoded twice
    assert calls[0][0] == json.loads((data / "train.json").read_text())["0"]["data"]["text"]
    later = [t for c in calls[3:] for t in c]
    assert len(later) == len(set(later)) == res["augmented_texts_encoded"]
    assert "meanfield" in capsys.readouterr().out


def test_text_mode_errors(tmp_path: Any) -> None:
    with pytest.raises(SystemExit, match="no train.json"):
        bench_augment.main(["--text", str(tmp_path), "--quiet"])
    with pytest.raises(SystemExit, match="unknown"):
        bench_augment.main(["--text", str(tmp_path), "--tfs", "nope", "--quiet"])
