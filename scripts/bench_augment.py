"""Augmentation benchmark: a small CNN trained on few labeled images under each policy.

    python scripts/bench_augment.py --images digits --labeled 100 --seeds 10
    python scripts/bench_augment.py --images digits --labeled 100 --seeds 3 --json out.json
    python scripts/bench_augment.py --images PATH.npz --add-bad-tf
    python scripts/bench_augment.py --text ../shared/data/wrench/youtube --seeds 5 --json out.json

Policies: ``none`` (no augmentation), ``random`` (2 uniformly random TFs at strength 0.5),
``trivial`` (TrivialAugment: one random TF at a random strength), ``meanfield`` and ``sequence``
(TANDA policies learned on the unlabeled remainder of the training pool, no labels used, with
the image settings of ``IMAGE_LEARN_DEFAULTS``: a near-identity threshold of 0.2 mean absolute
pixel change and penalty 5, so the policy is asked for strong change; ``--learn label_weight=1``
adds the label-preservation term, whose classifier is fit on the seed's ``--labeled`` images —
never the test or dev images). The TFs are :data:`wsup_spark.augment.images.IMAGE_TFS`;
``--add-bad-tf`` adds ``heavy_noise`` (half or more of the pixels replaced by noise), which the
learned policies should learn to avoid.

Data: ``digits`` is scikit-learn's bundled 8x8 digits (a fixed 30% test split); a ``.npz`` file
must hold x_train, y_train, x_test, y_test with uint8 images of shape (n, h, w). Each seed draws
its own ``--labeled`` training images; every policy sees the same ones and the same test set.
Every epoch trains on the labeled originals plus one augmented copy of each (keyed by epoch), or
on the originals twice for ``none`` (same number of steps). Prints mean ± 95% CI (Student t over
seeds) and, paired seed by seed, each learned policy minus none/random/trivial; ``--json``
writes {"policies": {name: {"mean", "ci95", "per_seed"}}, "paired_differences": {...}, ...}.

Tuning never looks at the test split: ``--dev N`` holds out, per seed, N labeled images of the
training pool (neither the ``--labeled`` ones nor in the unlabeled sample the policies learn on)
and scores on them instead of the test split (``"scored_on": "dev"`` in the JSON);
``--seed-start`` picks other seeds than the final run's (e.g. 100) and ``--learn KEY=VALUE``
overrides a :class:`~wsup_spark.augment.learn.LearnConfig` field of the learned policies::

    python scripts/bench_augment.py --dev 500 --seed-start 100 --seeds 10 --learn temperature=2

``--text DIR`` (any WRENCH-format folder: ``train/valid/test.json`` with ``data.text``,
``weak_labels``, ``label``; ``label.json``) runs the same comparison for a weakly supervised text
end model (extra ``text``, and ``augment`` + WordNet for ``synonym_swap``): the label model
``LabelModel(k)`` fit on the train split's weak labels gives soft labels to the train rows with
at least one vote; each policy adds ``--copies`` augmented copies of those rows (the TFs of
:data:`wsup_spark.augment.text.TEXT_TFS`, ``--tfs`` picks a subset) carrying their row's soft
label (``none``: the originals repeated, same number of rows); every text is embedded with the
frozen sentence encoder (``--encoder``, MiniLM by default; ``--cache`` keeps the embeddings); an
MLP (``--hidden``, ``--weight-decay``; ``--select``: the grid of ``bench_endmodel.py``) trains on
them with early stopping on the valid split's gold labels and is scored on test. The learned
policies are fit on the unlabeled train texts with a :class:`~wsup_spark.augment.learn.
FeatureDiscriminator` on the same frozen embeddings and
:func:`~wsup_spark.augment.text.text_change` as the near-identity distance. Same JSON format,
plus ``label_model`` (its test score), ``changed_share`` (per policy, the share of augmented
copies that differ from their original) and ``augmented_texts_encoded``; the file is rewritten
after every seed (``seeds_done``), so an interrupted run keeps the seeds it finished.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

POLICY_NAMES = ("none", "random", "trivial", "meanfield", "sequence")

# LearnConfig settings of the learned image policies, recorded in the JSON's config.learn
# (``--learn KEY=VALUE`` overrides them). Chosen on the --dev split of digits, never on test: the
# near-identity penalty alpha * max(0, 1 - d / delta) with delta = 0.2 (mean absolute pixel
# change) and alpha = 5 rewards change up to 0.2, where TANDA's delta = 0.05 let the
# discriminator's realism pull the policy to weak photometric actions. The label-preservation
# term (``--learn label_weight=1``: a classifier fit on each seed's labeled images, see
# wsup_spark.augment.learn) is off: it did not help on dev.
IMAGE_LEARN_DEFAULTS: dict[str, Any] = {
    "identity_threshold": 0.2,
    "identity_penalty": 5.0,
    "label_weight": 0.0,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", default="digits", help="'digits' or a .npz file (see above)")
    p.add_argument(
        "--text",
        default=None,
        metavar="DIR",
        help="a WRENCH-format text folder: the text mode (see above)",
    )
    p.add_argument("--labeled", type=int, default=100, help="labeled training images per seed")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--json", dest="json_out", default=None, help="write results here")
    p.add_argument("--add-bad-tf", action="store_true", help="add the destructive heavy_noise TF")
    p.add_argument("--policies", default=",".join(POLICY_NAMES), help="comma-separated subset")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="CNN epochs (default 60); --text: end-model max epochs (default 50)",
    )
    p.add_argument(
        "--learn-steps",
        type=int,
        default=None,
        help="TANDA generator updates (default 150; --text: 60)",
    )
    p.add_argument(
        "--learn-batch", type=int, default=None, help="TANDA batch size (default 64; --text: 32)"
    )
    p.add_argument("--seq-len", type=int, default=2)
    p.add_argument("--max-unlabeled", type=int, default=2000, help="unlabeled sample for TANDA")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument(
        "--dev",
        type=int,
        default=0,
        metavar="N",
        help="tuning mode: score on N labeled POOL images held out per seed (neither the "
        "labeled ones nor used for learning) instead of the test split (images only)",
    )
    p.add_argument("--seed-start", type=int, default=0, help="seeds are seed-start, +1, ...")
    p.add_argument(
        "--learn",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a LearnConfig field of the learned policies (VALUE as JSON), repeatable",
    )
    p.add_argument("--quiet", action="store_true")
    t = p.add_argument_group("text mode (--text)")
    t.add_argument("--tfs", default=None, help="comma-separated text TFs (default: all TEXT_TFS)")
    t.add_argument("--copies", type=int, default=1, help="augmented copies per covered row")
    t.add_argument("--encoder", default="minilm", help="'minilm' or a local model folder")
    t.add_argument("--cache", default="/tmp/embcache", help="embedding cache folder ('' = none)")
    t.add_argument("--hidden", type=int, default=256, help="end-model MLP width (0: LR)")
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument(
        "--select",
        action="store_true",
        help="select the end model per policy and seed over bench_endmodel's grid",
    )
    t.add_argument("--metric", default="auto", choices=["auto", "acc", "f1"])
    return p


def load_images(spec: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) with images as float32 in [0, 1]."""
    if spec == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            sys.exit("--images digits needs scikit-learn: pip install scikit-learn")
        d = load_digits()
        x = (d.images / 16.0).astype(np.float32)
        y = d.target.astype(np.int64)
        perm = np.random.default_rng(12345).permutation(len(x))
        n_test = round(0.3 * len(x))
        te, tr = perm[:n_test], perm[n_test:]
        return x[tr], y[tr], x[te], y[te]
    path = Path(spec)
    if not path.is_file():
        sys.exit(f"--images {spec!r}: not 'digits' and no such .npz file")
    with np.load(path) as z:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z]
        if missing:
            sys.exit(f"{spec}: missing arrays {missing}; need x_train, y_train, x_test, y_test")
        xs = [np.asarray(z[k]) for k in ("x_train", "x_test")]
        ys = [np.asarray(z[k]).astype(np.int64).reshape(-1) for k in ("y_train", "y_test")]
    for name, x in zip(("x_train", "x_test"), xs, strict=True):
        if x.ndim != 3:
            sys.exit(f"{spec}: {name} has shape {x.shape}; need (n, h, w) grey images")
    scale = 255.0 if max(float(xs[0].max()), 1.0) > 1.0 else 1.0
    return (xs[0] / scale).astype(np.float32), ys[0], (xs[1] / scale).astype(np.float32), ys[1]


def make_log(quiet: bool) -> Callable[..., None]:
    """Progress lines on stderr (nothing with ``--quiet``)."""

    def log(*parts: Any) -> None:
        if not quiet:
            print(*parts, file=sys.stderr, flush=True)

    return log


def split_pool(
    n: int, labeled: int, dev: int, max_unlabeled: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One seed's disjoint draw from the training pool of ``n`` images.

    Returns
    -------
    labeled : (labeled,) int64 indices (the CNN's training images)
    dev : (dev,) int64 indices (``--dev``: scored instead of the test split; empty otherwise)
    unlabeled : (≤ max_unlabeled,) int64 indices (the learned policies' data; no labels used)
    """
    perm = np.random.default_rng(1000 + seed).permutation(n)
    rest = perm[labeled:]
    return perm[:labeled], rest[:dev], rest[dev:][:max_unlabeled]


def make_cnn(h: int, w: int, n_classes: int) -> Any:
    from torch import nn

    layers: list[nn.Module] = [nn.Conv2d(1, 16, 3, padding=1), nn.ReLU()]
    if min(h, w) >= 16:
        layers.append(nn.MaxPool2d(2))
    layers += [
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(),
        nn.Dropout(0.25), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, n_classes),
    ]  # fmt: skip
    return nn.Sequential(*layers)


def train_eval(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    policy: Any,
    tfs: list[Any],
    seed: int,
    epochs: int,
    n_classes: int,
) -> float:
    """Test accuracy of a CNN trained on (x, y) plus per-epoch augmented copies."""
    import torch

    from wsup_spark.augment.apply import augment_batch

    torch.manual_seed(seed)
    model = make_cnn(x.shape[1], x.shape[2], n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    ids = np.arange(len(x))
    yt = torch.as_tensor(y)
    for epoch in range(epochs):
        if policy is None:
            xe = np.concatenate([x, x])
        else:
            aug = augment_batch(x, ids, policy, tfs, seed=seed, n_copies=1, keep_original=False,
                                first_copy=epoch + 1)  # fmt: skip
            xe = np.concatenate([x, aug.values])
        ye = torch.cat([yt, yt])
        xt = torch.as_tensor(xe, dtype=torch.float32).unsqueeze(1)
        model.train()
        for b in np.array_split(rng.permutation(len(xe)), max(1, len(xe) // 32)):
            bi = torch.as_tensor(b)
            opt.zero_grad()
            loss_fn(model(xt[bi]), ye[bi]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(x_test).unsqueeze(1)).argmax(1).numpy()
    return float((pred == y_test).mean())


def fixed_policies(names: tuple[str, ...], seq_len: int) -> dict[str, Any]:
    """The policies that learn nothing: none, random sequences, TrivialAugment-style."""
    from wsup_spark.augment import Policy

    return {
        "none": None,
        "random": Policy("random", names, seq_len=seq_len, strength=0.5),
        "trivial": Policy("trivial", names),
    }


def print_table(out: dict[str, Any], header: str) -> None:
    """The result table: mean ± 95% CI per policy, then the paired differences over seeds."""
    print(header)
    for p, r in out["policies"].items():
        print(f"{p:<10} {r['mean']:>17.4f} ± {r['ci95']:.4f}")
    for key, r in out["paired_differences"].items():
        print(f"{key:<18} {r['mean']:>+9.4f} ± {r['ci95']:.4f}  (paired over seeds)")


def ci95(values: list[float]) -> float:
    """Half-width of the 95% Student-t interval of the mean (0 for one value)."""
    if len(values) < 2:
        return 0.0
    from scipy import stats

    sd = float(np.std(values, ddof=1))
    return float(stats.t.ppf(0.975, len(values) - 1) * sd / np.sqrt(len(values)))


def paired_differences(acc: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Learned minus fixed policy, seed by seed: {"meanfield-random": {"mean", "ci95"}, ...}."""
    out = {}
    for a in ("meanfield", "sequence"):
        for b in ("none", "random", "trivial"):
            if a in acc and b in acc and acc[a]:
                d = [x - y for x, y in zip(acc[a], acc[b], strict=True)]
                out[f"{a}-{b}"] = {"mean": float(np.mean(d)), "ci95": ci95(d)}
    return out


def learn_overrides(items: list[str]) -> dict[str, Any]:
    """``--learn KEY=VALUE`` pairs as LearnConfig keyword arguments (VALUE parsed as JSON, else
    kept as a string; lists become tuples). Unknown keys exit naming the known ones."""
    from dataclasses import fields

    from wsup_spark.augment.learn import LearnConfig

    known = {f.name for f in fields(LearnConfig)} - {"kind", "seed", "progress"}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in known:
            sys.exit(f"--learn {item!r}: need KEY=VALUE with KEY one of {sorted(known)}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.text:
        return main_text(args)
    args.epochs = 60 if args.epochs is None else args.epochs
    args.learn_steps = 150 if args.learn_steps is None else args.learn_steps
    learn_batch = 64 if args.learn_batch is None else args.learn_batch
    import torch

    from wsup_spark.augment.images import IMAGE_TFS, heavy_noise
    from wsup_spark.augment.learn import LearnConfig, fit_image_classifier, learn_policy

    torch.set_num_threads(max(1, args.threads))
    logging.basicConfig(level=logging.WARNING)
    wanted = [p.strip() for p in args.policies.split(",") if p.strip()]
    bad = [p for p in wanted if p not in POLICY_NAMES]
    if bad:
        sys.exit(f"--policies: unknown {bad}; choose from {list(POLICY_NAMES)}")
    x_pool, y_pool, x_test, y_test = load_images(args.images)
    n_classes = int(max(y_pool.max(), y_test.max())) + 1
    if args.labeled + args.dev >= len(x_pool):
        sys.exit(f"--labeled {args.labeled} --dev {args.dev} leave no unlabeled images of "
                 f"{len(x_pool)}")  # fmt: skip
    overrides = IMAGE_LEARN_DEFAULTS | learn_overrides(args.learn)
    tfs = list(IMAGE_TFS) + ([heavy_noise] if args.add_bad_tf else [])
    names = tuple(t.name for t in tfs)
    log = make_log(args.quiet)
    log(f"images={args.images} pool={len(x_pool)} test={len(x_test)} labeled={args.labeled} "
        f"tfs={list(names)} seeds={args.seeds}")  # fmt: skip
    acc: dict[str, list[float]] = {p: [] for p in wanted}
    learned: dict[str, list[dict[str, float]]] = {"meanfield": [], "sequence": []}
    t0 = time.perf_counter()
    seeds = range(args.seed_start, args.seed_start + args.seeds)
    for seed in seeds:
        lab, dev, unl = split_pool(len(x_pool), args.labeled, args.dev, args.max_unlabeled, seed)
        x_eval, y_eval = (x_pool[dev], y_pool[dev]) if args.dev else (x_test, y_test)
        policies = fixed_policies(names, args.seq_len)
        clf = None  # the label-preservation classifier: this seed's labeled images only
        for kind in ("meanfield", "sequence"):
            if kind in wanted:
                cfg = LearnConfig(**{"kind": kind, "seq_len": args.seq_len,
                                     "steps": args.learn_steps, "batch_size": learn_batch,
                                     "seed": seed, "progress": False, **overrides})  # fmt: skip
                if clf is None and cfg.label_weight > 0:
                    clf = fit_image_classifier(x_pool[lab], y_pool[lab], tfs, levels=cfg.levels,
                                               epochs=args.epochs, seed=seed)  # fmt: skip
                res = learn_policy(x_pool[unl], tfs, cfg, classifier=clf)
                policies[kind] = res.policy
                learned[kind].append(dict(res.policy.meta.get("action_marginals", {})))
        for name in wanted:
            a = train_eval(x_pool[lab], y_pool[lab], x_eval, y_eval, policies[name], tfs, seed,
                           args.epochs, n_classes)  # fmt: skip
            acc[name].append(a)
        log(f"seed {seed}: " + "  ".join(f"{p}={acc[p][-1]:.4f}" for p in wanted)
            + f"  ({time.perf_counter() - t0:.0f}s)")  # fmt: skip
    out = {
        "policies": {
            p: {"mean": float(np.mean(v)), "ci95": ci95(v), "per_seed": v} for p, v in acc.items()
        },
        "paired_differences": paired_differences(acc),
        "config": {k: v for k, v in vars(args).items() if k not in TEXT_ONLY}
        | {"learn_batch": learn_batch, "tfs": list(names), "learn": overrides,
           "scored_on": "dev" if args.dev else "test"},
        "learned_action_marginals": {k: v for k, v in learned.items() if v},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    split = f"DEV ({args.dev} held-out pool images)" if args.dev else "test"
    print_table(out, f"{'policy':<10} {split + ' accuracy (mean ± 95% CI)':>26}   "
                f"seeds={args.seeds} labeled={args.labeled}"
                f"{' +bad TF' if args.add_bad_tf else ''}")  # fmt: skip
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


TEXT_ONLY = frozenset({"json_out", "text", "tfs", "copies", "encoder", "cache", "hidden",
                       "weight_decay", "select", "metric", "learn_batch"})  # fmt: skip


def encode_texts(texts: list[str], model: str, cache: str | None) -> np.ndarray:
    """``(n, d)`` frozen embeddings of ``texts`` (bench_endmodel's ``embed_cached``: a ``.npy``
    per list of texts under ``cache``). The text-mode test replaces this function."""
    from bench_endmodel import embed_cached

    return embed_cached(texts, model, 64, cache)


class TextEmbedder:
    """Texts → embeddings, each distinct text encoded once per run (the new texts of a call are
    encoded together, so a rerun with the same arguments finds every call in the disk cache)."""

    def __init__(self, model: str, cache: str | None) -> None:
        self.model, self.cache = model, cache
        self.memo: dict[str, np.ndarray] = {}
        self.n_encoded = 0
        self.seconds = 0.0

    def add(self, texts: list[str], emb: np.ndarray) -> None:
        self.memo.update(zip(texts, emb, strict=True))

    def __call__(self, texts: list[str]) -> np.ndarray:
        new = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if new:
            t0 = time.perf_counter()
            self.add(new, encode_texts(new, self.model, self.cache))
            self.n_encoded += len(new)
            self.seconds += time.perf_counter() - t0
        return np.stack([self.memo[t] for t in texts]).astype(np.float32)


def main_text(args: argparse.Namespace) -> int:
    """``--text DIR``: the weakly supervised text end model under each policy (see above)."""
    if args.dev:
        sys.exit("--dev is for --images; --text selects on its valid split and scores on test")
    scripts = str(Path(__file__).resolve().parent)
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    import torch
    from bench_endmodel import WRENCH_F1_SETS, load_wrench_split, select_and_fit, wrench_argmax

    from wsup_spark import LabelModel, LFStats
    from wsup_spark.augment.apply import augment_batch
    from wsup_spark.augment.learn import FeatureDiscriminator, LearnConfig, learn_policy
    from wsup_spark.augment.text import TEXT_TFS, text_change
    from wsup_spark.endmodel.encoders import fit_soft_classifier, metric_score

    torch.set_num_threads(max(1, args.threads))
    logging.basicConfig(level=logging.WARNING)
    epochs = 50 if args.epochs is None else args.epochs
    learn_steps = 60 if args.learn_steps is None else args.learn_steps
    learn_batch = 32 if args.learn_batch is None else args.learn_batch
    wanted = [p.strip() for p in args.policies.split(",") if p.strip()]
    bad = [p for p in wanted if p not in POLICY_NAMES]
    if bad:
        sys.exit(f"--policies: unknown {bad}; choose from {list(POLICY_NAMES)}")
    by_name = {t.name: t for t in TEXT_TFS}
    tf_names = [n.strip() for n in args.tfs.split(",") if n.strip()] if args.tfs else list(by_name)
    unknown = [n for n in tf_names if n not in by_name]
    if unknown:
        sys.exit(f"--tfs: unknown {unknown}; choose from {list(by_name)}")
    tfs = [by_name[n] for n in tf_names]
    if "synonym_swap" in tf_names:
        from wsup_spark.augment.text import WORDNET_FIX, wordnet_available

        if not wordnet_available():
            sys.exit(f"synonym_swap needs English WordNet: {WORDNET_FIX} (or leave it out: --tfs)")
    names = tuple(tf_names)
    data = Path(args.text)
    for f in ("train.json", "valid.json", "test.json", "label.json"):
        if not (data / f).is_file():
            sys.exit(f"--text {data}: no {f} (need a WRENCH-format folder)")
    k = len(json.loads((data / "label.json").read_text()))
    metric = args.metric if args.metric != "auto" else (
        "f1" if data.resolve().name in WRENCH_F1_SETS else "acc")  # fmt: skip
    tr_text, Ltr, _ = load_wrench_split(data / "train.json")
    va_text, _, yva = load_wrench_split(data / "valid.json")
    te_text, Lte, yte = load_wrench_split(data / "test.json")
    log = make_log(args.quiet)
    lm = LabelModel(k).fit(LFStats.from_matrix(Ltr, k))
    lm_score = metric_score(wrench_argmax(lm.predict_proba(Lte)), yte, k, metric)
    covered = np.flatnonzero((Ltr != -1).any(axis=1))
    P = lm.predict_proba(Ltr)[covered]
    cov_text = [tr_text[i] for i in covered]
    emb = TextEmbedder(args.encoder, args.cache or None)
    t0 = time.perf_counter()
    for split in (tr_text, va_text, te_text):  # whole splits: the cache files bench_endmodel uses
        new = [t for t in dict.fromkeys(split) if t not in emb.memo]
        if new:
            emb.add(list(split), encode_texts(list(split), args.encoder, emb.cache))
    emb.seconds += time.perf_counter() - t0
    Xc, Xva, Xte = emb(cov_text), emb(va_text), emb(te_text)
    dim = Xc.shape[1]
    log(f"text={data} train={len(tr_text)} covered={len(covered)} valid={len(va_text)} "
        f"test={len(te_text)} k={k} metric={metric} label_model={lm_score:.4f} tfs={list(names)} "
        f"seeds={args.seeds}")  # fmt: skip

    def featurize(batch: list[str]) -> torch.Tensor:
        return torch.from_numpy(emb(list(batch)))

    def fit_score(X: np.ndarray, Y: np.ndarray, seed: int) -> tuple[float, dict[str, Any]]:
        if args.select:
            model, info = select_and_fit(X, Y, Xva, yva, metric, epochs, seed)
        else:
            model = fit_soft_classifier(X, Y, X_dev=Xva, y_dev=yva, metric=metric,
                                        hidden=args.hidden, weight_decay=args.weight_decay,
                                        epochs=epochs, lr=1e-3, seed=seed)  # fmt: skip
            info = {"best_epoch": model.best_epoch, "valid": model.dev_score}
        return metric_score(model.predict_proba(Xte).argmax(1), yte, k, metric), info

    unl = [tr_text[i] for i in np.random.default_rng(0).permutation(len(tr_text))]
    unl = unl[: args.max_unlabeled]  # unlabeled: every train text may be used, no labels
    acc: dict[str, list[float]] = {p: [] for p in wanted}
    changed: dict[str, list[float]] = {p: [] for p in wanted if p != "none"}
    selected: dict[str, list[dict[str, Any]]] = {p: [] for p in wanted}
    learned: dict[str, list[dict[str, float]]] = {"meanfield": [], "sequence": []}
    learn_seconds: dict[str, list[float]] = {"meanfield": [], "sequence": []}
    t_start = time.perf_counter()
    out: dict[str, Any] = {}
    overrides = learn_overrides(args.learn)
    for seed in range(args.seed_start, args.seed_start + args.seeds):
        policies = fixed_policies(names, args.seq_len)
        for kind in ("meanfield", "sequence"):
            if kind in wanted:
                cfg = LearnConfig(**{"kind": kind, "seq_len": args.seq_len, "steps": learn_steps,
                                     "batch_size": learn_batch, "seed": seed, "progress": False,
                                     **overrides})  # fmt: skip
                torch.manual_seed(seed)
                res = learn_policy(unl, tfs, cfg, discriminator=FeatureDiscriminator(dim),
                                   featurize=featurize, distance=text_change)  # fmt: skip
                policies[kind] = res.policy
                learned[kind].append(dict(res.policy.meta.get("action_marginals", {})))
                learn_seconds[kind].append(round(res.seconds, 1))
        for name in wanted:
            if policies[name] is None:
                X = np.concatenate([Xc] * (args.copies + 1))
                Y = np.concatenate([P] * (args.copies + 1))
            else:
                aug = augment_batch(cov_text, covered, policies[name], tfs, seed=seed,
                                    n_copies=args.copies, keep_original=False)  # fmt: skip
                texts = list(aug.values)
                diff = [t != cov_text[s] for t, s in zip(texts, aug.source, strict=True)]
                changed[name].append(float(np.mean(diff)))
                X = np.concatenate([Xc, emb(texts)])
                Y = np.concatenate([P, P[aug.source]])
            score, info = fit_score(X, Y, seed)
            acc[name].append(score)
            selected[name].append(info)
        log(
            f"seed {seed}: "
            + "  ".join(f"{p}={acc[p][-1]:.4f}" for p in wanted)
            + f"  ({time.perf_counter() - t_start:.0f}s, {emb.n_encoded} new texts encoded)"
        )
        out = {
            "policies": {
                p: {"mean": float(np.mean(v)), "ci95": ci95(v), "per_seed": v}
                for p, v in acc.items()
            },
            "paired_differences": paired_differences(acc),
            "dataset": data.resolve().name,
            "metric": metric,
            "label_model": lm_score,
            "seeds_done": seed + 1 - args.seed_start,
            "config": {k: v for k, v in vars(args).items() if k not in ("json_out", "images",
                                                                          "labeled", "add_bad_tf",
                                                                          "dev")}
            | {"epochs": epochs, "learn_steps": learn_steps, "learn_batch": learn_batch,
               "tfs": list(names), "train_rows": len(tr_text),
               "covered_rows": len(covered)},
            "changed_share": {p: float(np.mean(v)) for p, v in changed.items() if v},
            "end_model_selected": selected,
            "learned_action_marginals": {k: v for k, v in learned.items() if v},
            "learn_seconds": {k: v for k, v in learn_seconds.items() if v},
            "augmented_texts_encoded": emb.n_encoded,
            "embed_seconds": round(emb.seconds, 1),
            "seconds": round(time.perf_counter() - t_start, 1),
        }  # fmt: skip
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(out, indent=1) + "\n")
    print_table(out, f"{'policy':<10} {metric + ' (mean ± 95% CI)':>26}   seeds={args.seeds} "
                f"{data.resolve().name} label model {lm_score:.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
