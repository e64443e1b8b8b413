"""The TF contract: row and vectorized TFs, strength, resources, and errors that name the TF."""

from __future__ import annotations

import numpy as np
import pytest
from augment_helpers import TEXTS, blobs

from wsup_spark import ConfigError, WsupError
from wsup_spark.augment.apply import augment_arrays, augment_rows
from wsup_spark.augment.base import (
    TFError,
    TransformationFunction,
    clear_resource_cache,
    transformation_function,
    vectorized_tf,
)
from wsup_spark.augment.images import BAD_IMAGE_TFS, IMAGE_TFS
from wsup_spark.augment.policy import Policy
from wsup_spark.augment.randomness import row_keys
from wsup_spark.augment.text import entity_sub, number_sub, random_delete, random_swap, typo


def test_row_tf_new_row_or_none() -> None:
    @transformation_function()
    def add_bang(x: str) -> str | None:
        return None if x.endswith("!") else x + "!"

    assert isinstance(add_bang, TransformationFunction) and add_bang.name == "add_bang"
    assert add_bang("hi") == "hi!"
    assert add_bang("hi!") is None
    pol = Policy("apply_one", ["add_bang"])
    out = augment_rows(["a", "b!"], pol, [add_bang], seed=0)
    assert out.values == ["a", "a!", "b!", "b!"]
    assert out.lineage == ["", "add_bang@0.500", "", ""]  # not applicable -> not in lineage
    assert out.copy.tolist() == [0, 1, 0, 1] and out.source.tolist() == [0, 0, 1, 1]


def test_strength_rng_and_vectorized_mask() -> None:
    seen: list[float] = []

    @transformation_function(default_strength=0.25)
    def record(x: float, rng: np.random.Generator, strength: float) -> float:
        seen.append(strength)
        return x + rng.uniform()

    record(1.0)
    record(1.0, strength=0.9)
    assert seen == [0.25, 0.9]

    @vectorized_tf()
    def only_positive(xs: np.ndarray, strength: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return xs * (1 + strength[:, None]), xs[:, 0] > 0

    x = np.array([[1.0, 2.0], [-1.0, -2.0]], np.float32)
    out, applied = only_positive.apply_batch(x, row_keys(0, [0, 1]), np.array([1.0, 1.0]))
    assert applied.tolist() == [True, False]
    assert out.tolist() == [[2.0, 4.0], [-1.0, -2.0]]  # not-applied rows unchanged


def test_loaders_run_once_per_process() -> None:
    clear_resource_cache()
    calls: list[int] = []

    def load() -> dict[str, str]:
        calls.append(1)
        return {"good": "fine"}

    @transformation_function(loaders={"lex": load}, resources={"suffix": "."})
    def swap(x: str, lex: dict[str, str], suffix: str) -> str:
        return " ".join(lex.get(w, w) for w in x.split()) + suffix

    pol = Policy("apply_one", ["swap"])
    out = augment_rows(["good day", "good"] * 5, pol, [swap], seed=1, n_copies=2)
    assert out.values[1] == "fine day."
    assert len(calls) == 1


def test_errors_name_the_tf() -> None:
    @transformation_function()
    def broken(x: str) -> str:
        raise KeyError("oops")

    with pytest.raises(TFError, match="'broken' raised KeyError") as e:
        augment_rows(["a"], Policy("apply_one", ["broken"]), [broken], seed=0)
    assert isinstance(e.value, WsupError) and isinstance(e.value, ValueError)

    @vectorized_tf()
    def drops_rows(xs: np.ndarray) -> np.ndarray:
        return xs[:1]

    with pytest.raises(TFError, match="'drops_rows' returned 1 rows"):
        augment_arrays(np.zeros((3, 2)), Policy("apply_one", ["drops_rows"]), [drops_rows], seed=0)

    @transformation_function()
    def reshapes(x: np.ndarray) -> np.ndarray:
        return x[:1]

    with pytest.raises(TFError, match="'reshapes' returned an example of another shape"):
        augment_arrays(np.zeros((3, 2)), Policy("apply_one", ["reshapes"]), [reshapes], seed=0)

    def loader() -> None:
        raise OSError("lexicon file missing")

    @transformation_function(loaders={"lex": loader})
    def needs_lex(x: str, lex: object) -> str:
        return x

    clear_resource_cache()
    with pytest.raises(TFError, match="'needs_lex': loading resource 'lex' failed"):
        needs_lex("a")


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="'a|b'"):
        TransformationFunction("a|b", lambda x: x)
    with pytest.raises(ConfigError, match="default_strength=2"):
        TransformationFunction("t", lambda x: x, default_strength=2)
    with pytest.raises(ConfigError, match="reserved"):
        TransformationFunction("t", lambda x: x, resources={"rng": 1})
    t = TransformationFunction("t", lambda x: x)
    with pytest.raises(ConfigError, match="two TFs are named 't'"):
        augment_rows(["a"], Policy("apply_one", ["t"]), [t, t], seed=0)
    with pytest.raises(ConfigError, match=r"names TFs \['missing'\]"):
        augment_rows(["a"], Policy("apply_one", ["missing"]), [t], seed=0)


@pytest.mark.parametrize("tf", IMAGE_TFS + BAD_IMAGE_TFS, ids=lambda t: t.name)
def test_image_tfs_keep_shape_range_and_change_something(tf: TransformationFunction) -> None:
    x = blobs(12)
    for s in (0.3, 1.0):
        out, applied = tf.apply_batch(x, row_keys(3, np.arange(12)), np.full(12, s))
        assert out.shape == x.shape and out.dtype == x.dtype and applied.all()
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
        assert np.abs(out - x).mean() > 1e-3, f"{tf.name} at strength {s} changed nothing"


def test_image_tf_rejects_flat_rows() -> None:
    with pytest.raises(WsupError, match="'rotate' needs a batch of grey images"):
        IMAGE_TFS[0].apply_batch(np.zeros((2, 64)), row_keys(0, [0, 1]), np.ones(2))


def test_text_tfs_without_wordnet() -> None:
    rng = np.random.default_rng(0)
    s = TEXTS[0]
    assert number_sub(s, seed=rng) != s and "views" in number_sub(s, seed=rng)
    assert number_sub("no digits here") is None
    assert sorted(random_swap(s, seed=1).split()) == sorted(s.split())
    assert random_swap("single") is None
    assert len(random_delete(s, seed=2, strength=1.0).split()) < len(s.split())
    assert "Amazon" not in entity_sub(TEXTS[2], seed=3, strength=1.0)
    assert entity_sub("nothing capitalised after the start") is None
    assert typo(s, seed=4) != s
