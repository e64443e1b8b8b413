"""Augmentation benchmark: a small CNN trained on few labeled images under each policy.

    python scripts/bench_augment.py --images digits --labeled 100 --seeds 10
    python scripts/bench_augment.py --images digits --labeled 100 --seeds 3 --json out.json
    python scripts/bench_augment.py --images PATH.npz --add-bad-tf

Policies: ``none`` (no augmentation), ``random`` (2 uniformly random TFs at strength 0.5),
``trivial`` (TrivialAugment: one random TF at a random strength), ``meanfield`` and ``sequence``
(TANDA policies learned on the unlabeled remainder of the training pool, no labels used). The
TFs are :data:`wsup_spark.augment.images.IMAGE_TFS`; ``--add-bad-tf`` adds ``heavy_noise`` (half
or more of the pixels replaced by noise), which the learned policies should learn to avoid.

Data: ``digits`` is scikit-learn's bundled 8x8 digits (a fixed 30% test split); a ``.npz`` file
must hold x_train, y_train, x_test, y_test with uint8 images of shape (n, h, w). Each seed draws
its own ``--labeled`` training images; every policy sees the same ones and the same test set.
Every epoch trains on the labeled originals plus one augmented copy of each (keyed by epoch), or
on the originals twice for ``none`` (same number of steps). Prints mean ± 95% CI (Student t over
seeds) and, paired seed by seed, each learned policy minus none/random/trivial; ``--json``
writes {"policies": {name: {"mean", "ci95", "per_seed"}}, "paired_differences": {...}, ...}.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

POLICY_NAMES = ("none", "random", "trivial", "meanfield", "sequence")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", default="digits", help="'digits' or a .npz file (see above)")
    p.add_argument("--labeled", type=int, default=100, help="labeled training images per seed")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--json", dest="json_out", default=None, help="write results here")
    p.add_argument("--add-bad-tf", action="store_true", help="add the destructive heavy_noise TF")
    p.add_argument("--policies", default=",".join(POLICY_NAMES), help="comma-separated subset")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--learn-steps", type=int, default=150, help="TANDA generator updates")
    p.add_argument("--seq-len", type=int, default=2)
    p.add_argument("--max-unlabeled", type=int, default=2000, help="unlabeled sample for TANDA")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--quiet", action="store_true")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from wsup_spark.augment.images import IMAGE_TFS, heavy_noise
    from wsup_spark.augment.learn import LearnConfig, learn_policy
    from wsup_spark.augment.policy import Policy

    torch.set_num_threads(max(1, args.threads))
    logging.basicConfig(level=logging.WARNING)
    wanted = [p.strip() for p in args.policies.split(",") if p.strip()]
    bad = [p for p in wanted if p not in POLICY_NAMES]
    if bad:
        sys.exit(f"--policies: unknown {bad}; choose from {list(POLICY_NAMES)}")
    x_pool, y_pool, x_test, y_test = load_images(args.images)
    n_classes = int(max(y_pool.max(), y_test.max())) + 1
    if args.labeled >= len(x_pool):
        sys.exit(f"--labeled {args.labeled} leaves no unlabeled images of {len(x_pool)}")
    tfs = list(IMAGE_TFS) + ([heavy_noise] if args.add_bad_tf else [])
    names = tuple(t.name for t in tfs)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    log(f"images={args.images} pool={len(x_pool)} test={len(x_test)} labeled={args.labeled} "
        f"tfs={list(names)} seeds={args.seeds}")  # fmt: skip
    acc: dict[str, list[float]] = {p: [] for p in wanted}
    learned: dict[str, list[dict[str, float]]] = {"meanfield": [], "sequence": []}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        rng = np.random.default_rng(1000 + seed)
        perm = rng.permutation(len(x_pool))
        lab, unl = perm[: args.labeled], perm[args.labeled :][: args.max_unlabeled]
        policies: dict[str, Any] = {
            "none": None,
            "random": Policy("random", names, seq_len=args.seq_len, strength=0.5),
            "trivial": Policy("trivial", names),
        }
        for kind in ("meanfield", "sequence"):
            if kind in wanted:
                cfg = LearnConfig(kind=kind, seq_len=args.seq_len, steps=args.learn_steps,
                                  seed=seed, progress=False)  # fmt: skip
                res = learn_policy(x_pool[unl], tfs, cfg)
                policies[kind] = res.policy
                learned[kind].append(dict(res.policy.meta.get("action_marginals", {})))
        for name in wanted:
            a = train_eval(x_pool[lab], y_pool[lab], x_test, y_test, policies[name], tfs, seed,
                           args.epochs, n_classes)  # fmt: skip
            acc[name].append(a)
        log(f"seed {seed}: " + "  ".join(f"{p}={acc[p][-1]:.4f}" for p in wanted)
            + f"  ({time.perf_counter() - t0:.0f}s)")  # fmt: skip
    out = {
        "policies": {
            p: {"mean": float(np.mean(v)), "ci95": ci95(v), "per_seed": v} for p, v in acc.items()
        },
        "paired_differences": paired_differences(acc),
        "config": {k: v for k, v in vars(args).items() if k != "json_out"} | {"tfs": list(names)},
        "learned_action_marginals": {k: v for k, v in learned.items() if v},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"{'policy':<10} {'accuracy (mean ± 95% CI)':>26}   seeds={args.seeds} "
          f"labeled={args.labeled}{' +bad TF' if args.add_bad_tf else ''}")  # fmt: skip
    for p, r in out["policies"].items():
        print(f"{p:<10} {r['mean']:>17.4f} ± {r['ci95']:.4f}")
    for k, r in out["paired_differences"].items():
        print(f"{k:<18} {r['mean']:>+9.4f} ± {r['ci95']:.4f}  (paired over seeds)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
