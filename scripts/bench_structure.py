"""The harder label-model benchmark: planted LF dependencies, rare classes, low coverage; WRENCH
label matrices with injected near-copies of their own LFs; recovery of the planted structure.

    python scripts/bench_structure.py --planted 24        # synthetic suite (LM − MV per problem)
    python scripts/bench_structure.py --semi              # semi-synthetic WRENCH suite
    python scripts/bench_structure.py --edges 8           # edge precision/recall at n = 100,000
    python scripts/bench_structure.py --rare 16           # rare positive class, F1 (spouse-like)
    python scripts/bench_structure.py --context 12        # rare class, LFs sharing a context, F1
                                                          #   (12 draws × sound/confused LFs)
    python scripts/bench_structure.py --context-copies 12 # the sound draws + near-copies of
                                                          #   two positive LFs, F1
    python scripts/bench_structure.py --multiclass 12     # imbalanced 10-class, 20-29 unipolar
                                                          #   LFs, accuracy (chemprot-like)
    python scripts/bench_structure.py --all               # the seven above (README tables)
    python scripts/bench_structure.py --planted 24 --model balance=uniform dependencies=none

Every problem is scored as *label model minus majority vote* (accuracy on covered rows for the
synthetic suite; WRENCH's metric and tie-break on the test split for the semi-synthetic one), in
points (×100). The label model is one configuration (``--model key=value ...`` are keyword
arguments of ``LabelModel``; ``dependencies=...`` is passed to ``fit``), fit from ``LFStats``
only: no gold labels in the fit.

Synthetic generator (:func:`planted_problem`): k ∈ {2, 3, 4, 6, 9}; a class balance that is
either Dirichlet or has one rare class (1–10%); 5–20 independent LFs (unipolar or voting any
class), accuracy 0.55–0.95; coverage either moderate (5–50%) or low (1–10%, most rows uncovered);
then 1–3 planted dependency clusters, each either *copies* (1–3 near-copies of one LF: each
vote kept with probability 0.8–0.95, plus stray votes of their own) or a *shared dictionary*
(2–4 LFs that vote class c when a shared per-row trigger fires and their own partial sub-dictionary
covers it — partial overlap, not copies). The planted edges are all pairs inside a cluster.

Rare-class suite (:func:`rare_problem`), shaped like a relation-extraction set scored by F1:
binary, 4–15% positives, 3–7 LFs voting the positive class with precision 0.15–0.7 (at least twice
the base rate) and recall 0.05–0.4, 2–4 precise LFs (0.9–0.995) voting the negative class, 0–2
near-copies, most rows uncovered; fit on a train draw, scored on a separate test draw by the
positive class's F1 with WRENCH's tie-break. Besides the default configuration it scores the
model given the true class balance (what a small gold dev set would give).

Shared-context suite (:func:`context_problem`), the same task with the dependence that relation
sets have: a sentence either mentions a relation keyword or not (a latent context, in 50–90% of
positive and 10–25% of negative rows), and every LF fires almost only in context — 4–6 LFs vote
the 5–12% positive class (base rate 10–50% in context, 1.2–3× that on positive rows), 2–3 vote
the negative class (5–30% in context) — so all LFs co-fire beyond what the class explains, a
cluster no pairwise edge describes. Each draw is scored twice: with *sound* negative LFs (0.05–0.4×
as often on positive rows) and with *confused* ones (0.05–0.4× as often on negative rows: worse
than random for the class they vote, which breaks the model's assumption). Scored like the
rare-class suite. Most votes are for the rare class, so the vote shares point to the wrong class
as the majority; with confused negative LFs the balance estimate started from them can stay
there (93% positives for 6%), the shape of the 56%-for-8% estimate on issue 14's held-out
relation set.

Shared-context suite with copies (:func:`context_copies_problem`): each draw's sound problem
with near-copies of two of its positive LFs (kept votes 60–80%), like a relation set's "left
window" variants of a keyword LF: correlated LFs the model is not told about. Scored the same way.

10-class suite (:func:`multiclass_problem`), shaped like issue 14's 10-class relation set: strongly
imbalanced shares, 20–29 unipolar LFs (so most classes have fewer than 3 LFs and the balance is not
identifiable by the default's rule), 67–84% of rows covered, accuracy on a test draw with WRENCH's
tie-break. Its LFs are conditionally independent by construction, so it shows what a class
balance is worth there (the "given the balance" column, and ``--model balance=estimate``), not
whether an estimate can be trusted on real LFs.

Semi-synthetic suite (:func:`semi_problems`): the train and test label matrices of youtube, sms
and trec (../shared/data/wrench) with near-copies of some of their own LFs appended (the same
random dropping applied to train and test): 2 LFs × 2 copies, 4 LFs × 1 copy, 1 LF × 4 copies.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_wrench import DEFAULT_DATA, SETS, load_split, score, wrench_argmax

from wsup_spark import LabelModel, LFStats, MajorityVote
from wsup_spark.labelmodel.dependencies import dependency_components

Edge = tuple[int, int]


def _add_copies(
    L: np.ndarray, src: int, n_copies: int, keep: float, stray: float, rng: np.random.Generator
) -> tuple[np.ndarray, list[int]]:
    """Append ``n_copies`` near-copies of column ``src``: each vote kept with prob ``keep``, plus
    stray votes (the source's most frequent class) on a fraction ``stray`` of rows."""
    n = L.shape[0]
    cols = []
    voted = L[:, src][L[:, src] >= 0]
    top = int(np.bincount(voted).argmax()) if len(voted) else 0
    for _ in range(n_copies):
        c = L[:, src].copy()
        c[rng.random(n) > keep] = -1
        extra = (rng.random(n) < stray) & (c < 0)
        c[extra] = top
        cols.append(c)
    start = L.shape[1]
    return np.hstack([L, np.stack(cols, 1)]), list(range(start, start + n_copies))


def planted_problem(
    t: int, n: int | None = None
) -> tuple[np.ndarray, np.ndarray, int, list[Edge], str]:
    """Problem number ``t``: (L (n, m), y (n,), k, planted edges (i < j), description)."""
    rng = np.random.default_rng(1000 + t)
    k = int(rng.choice([2, 3, 4, 6, 9]))
    n = int(n if n is not None else rng.choice([5000, 20000, 100000]))
    rare = bool(rng.random() < 0.4)
    if rare:
        p = rng.dirichlet(np.full(k, 5.0))
        r = rng.uniform(0.01, 0.10)
        p[0] = 0.0
        p = p / p.sum() * (1 - r)
        p[0] = r
    else:
        p = rng.dirichlet(np.full(k, float(rng.choice([1.5, 5.0, 50.0]))))
        p = np.clip(p, 0.03, None) / np.clip(p, 0.03, None).sum()
    low_cov = bool(rng.random() < 0.4)
    unipolar = bool(rng.random() < 0.6)
    y = rng.choice(k, size=n, p=p)
    m0 = int(rng.integers(5, 21))
    L = np.full((n, m0), -1, np.int64)
    lf_class = np.full(m0, -1)
    for j in range(m0):
        acc = rng.uniform(0.55, 0.95)
        cov = rng.uniform(0.01, 0.10) if low_cov else rng.uniform(0.05, 0.5)
        if unipolar:
            # every class gets LFs; the rare class (0) at least two
            c = j % k if j < 2 * k else int(rng.integers(k))
            lf_class[j] = c
            rate = np.clip(np.where(y == c, acc, (1 - acc) * p[c] / (1 - p[c])) * cov / p[c]
                           * min(p[c], 0.5), 0, 1)  # fmt: skip
            L[rng.random(n) < rate, j] = c
        else:
            fire = rng.random(n) < cov
            wrong = (y + rng.integers(1, k, n)) % k
            L[fire, j] = np.where(rng.random(n) < acc, y, wrong)[fire]
    edges: list[Edge] = []
    kinds = []
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.5:  # near-copies of one LF
            src = int(rng.integers(m0))
            nc = int(rng.integers(1, 4))
            L, new = _add_copies(L, src, nc, rng.uniform(0.8, 0.95), rng.uniform(0, 0.01), rng)
            members = [src, *new]
            kinds.append(f"copy×{nc}")
        else:  # shared dictionary: a per-row trigger, each LF covering part of it
            c = int(rng.integers(k))
            size = int(rng.integers(2, 5))
            acc = rng.uniform(0.6, 0.9)
            cov = rng.uniform(0.02, 0.15) if low_cov else rng.uniform(0.05, 0.3)
            rate = np.clip(np.where(y == c, acc, (1 - acc) * p[c] / (1 - p[c])) * cov / p[c]
                           * min(p[c], 0.5), 0, 1)  # fmt: skip
            trigger = rng.random(n) < rate
            start = L.shape[1]
            cols = []
            for _ in range(size):
                part = rng.uniform(0.4, 0.9)
                col = np.full(n, -1, np.int64)
                col[trigger & (rng.random(n) < part)] = c
                own = rng.random(n) < rng.uniform(0.0, 0.02)  # a few words of its own
                col[own & (col < 0)] = c if rng.random() < 0.5 else (c + 1) % k
                cols.append(col)
            L = np.hstack([L, np.stack(cols, 1)])
            members = list(range(start, start + size))
            kinds.append(f"dict×{size}")
        edges += [(a, b) for a, b in zip(*np.triu_indices(len(members), 1), strict=True)
                  for a, b in [(members[a], members[b])]]  # fmt: skip
    # dependence is transitive through shared sources (a copy of a cluster member): the planted
    # graph is every pair inside a connected component
    comp = dependency_components(L.shape[1], edges)
    edges = [(int(a), int(b)) for a, b in zip(*np.triu_indices(L.shape[1], 1), strict=True)
             if comp[a] == comp[b]]  # fmt: skip
    cov_rows = float((L >= 0).any(axis=1).mean())
    desc = (f"k={k} m={L.shape[1]} n={n} minp={p.min():.3f} cov={cov_rows:.2f} "
            f"{'uni' if unipolar else 'multi'} {'+'.join(kinds)}")  # fmt: skip
    return L, y, k, edges, desc


def rare_problem(t: int, n_train: int = 20_000, n_test: int = 3_000
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, str]:  # fmt: skip
    """Rare-class problem ``t``: (L_train, L_test, y_test, positive share, description)."""
    rng = np.random.default_rng(500 + t)
    p = float(rng.uniform(0.04, 0.15))
    n_pos, n_neg = int(rng.integers(3, 8)), int(rng.integers(2, 5))
    spec = []  # (class voted, P(vote | y = 1), P(vote | y = 0))
    for _ in range(n_pos):
        prec, rec = rng.uniform(max(0.15, 2 * p), 0.7), rng.uniform(0.05, 0.4)
        spec.append((1, rec, rec * p * (1 - prec) / (prec * (1 - p))))
    for _ in range(n_neg):
        prec, cov = rng.uniform(0.9, 0.995), rng.uniform(0.02, 0.15)
        spec.append((0, cov * (1 - prec) / p, cov * prec / (1 - p)))
    n_copies = int(rng.integers(0, 3))
    copies = [(int(a), float(rng.uniform(0.6, 0.95)))
              for a in rng.choice(len(spec), n_copies, replace=False)]  # fmt: skip

    def draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        r = np.random.default_rng(seed)
        y = (r.random(n) < p).astype(np.int64)
        cols = []
        for c, r1, r0 in spec:
            col = np.full(n, -1, np.int64)
            col[r.random(n) < np.where(y == 1, r1, r0)] = c
            cols.append(col)
        for a, keep in copies:  # a near-copy: drops some votes, adds a few of its own
            col = cols[a].copy()
            col[r.random(n) > keep] = -1
            c, r1, r0 = spec[a]
            col[(r.random(n) < 0.2 * np.where(y == 1, r1, r0)) & (col < 0)] = c
            cols.append(col)
        return np.stack(cols, 1), y

    Ltr, _ = draw(n_train, 10 * t + 1)
    Lte, yte = draw(n_test, 10 * t + 2)
    desc = (f"p={p:.3f} pos LFs {n_pos} neg LFs {n_neg} copies {n_copies} "
            f"covered {(Ltr >= 0).any(axis=1).mean():.2f}")  # fmt: skip
    return Ltr, Lte, yte, p, desc


def context_problem(t: int, n_train: int = 22_000, n_test: int = 3_000
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, str]:  # fmt: skip
    """Shared-context problem ``t``: (L_train, L_test, y_test, positive share, description).

    Problems come in pairs: ``2s`` and ``2s + 1`` are the same draw (seed s) with sound and with
    confused negative LFs."""
    confused, t = t % 2 == 1, t // 2
    rng = np.random.default_rng(900 + t)
    p = float(rng.uniform(0.05, 0.12))
    in_context = (rng.uniform(0.5, 0.9), rng.uniform(0.1, 0.25))  # P(context | y = 1), y = 0
    n_pos, n_neg = int(rng.integers(4, 7)), int(rng.integers(2, 4))
    # (class voted, firing rate in context, × on rows of its class, × on other rows, rate out of
    # context): positive LFs fire 1.2-3× as often on positive rows; sound negative LFs fire
    # 0.05-0.4× as often on positive rows as on negative ones, confused ones 0.05-0.4× as often
    # on negative rows (worse than random for their class: a family-word LF that mostly fires in
    # sentences about a married couple)
    spec = [(1, rng.uniform(0.1, 0.5), rng.uniform(1.2, 3.0), 1.0, rng.uniform(0.0, 0.02))
            for _ in range(n_pos)]  # fmt: skip
    for _ in range(n_neg):
        base, ratio, off = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.4), rng.uniform(0.0, 0.02)
        spec.append((0, base, ratio, 1.0, off) if confused else (0, base, 1.0, ratio, off))

    def draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        r = np.random.default_rng(seed)
        y = (r.random(n) < p).astype(np.int64)
        ctx = r.random(n) < np.where(y == 1, *in_context)
        cols = []
        for c, base, own, other, off in spec:
            rate = np.where(ctx, np.minimum(base * np.where(y == c, own, other), 0.95), off)
            col = np.full(n, -1, np.int64)
            col[r.random(n) < rate] = c
            cols.append(col)
        return np.stack(cols, 1), y

    Ltr, _ = draw(n_train, 1000 + t)
    Lte, yte = draw(n_test, 2000 + t)
    desc = (f"p={p:.3f} pos LFs {n_pos} neg LFs {n_neg} {'confused' if confused else 'sound':<8} "
            f"covered {(Ltr >= 0).any(axis=1).mean():.2f}")  # fmt: skip
    return Ltr, Lte, yte, p, desc


def context_copies_problem(t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, str]:
    """Shared-context draw ``t`` with sound negative LFs (problem ``2t``) and near-copies of its
    first two positive LFs appended — a "left window" variant of a keyword LF, keeping 60–80% of
    its votes (the same dropping on train and test): (L_train, L_test, y_test, share, desc)."""
    Ltr, Lte, yte, p, desc = context_problem(2 * t)
    rng = np.random.default_rng(t)
    for src in (0, 1):
        keep, seed = rng.uniform(0.6, 0.8), int(rng.integers(1 << 30))
        Ltr, _ = _add_copies(Ltr, src, 1, keep, 0.002, np.random.default_rng(seed))
        Lte, _ = _add_copies(Lte, src, 1, keep, 0.002, np.random.default_rng(seed + 1))
    return Ltr, Lte, yte, p, desc.replace("sound   ", "+2 copies")


def multiclass_problem(t: int, n_train: int = 13_000, n_test: int = 2_000, k: int = 10
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:  # fmt: skip
    """Imbalanced 10-class problem ``t`` shaped like issue 14's 10-class relation set: (L_train,
    L_test, y_test, class balance (k,), description).

    Class shares decay geometrically (ratio 0.55–0.8, in a random class order: the largest class
    24–44%, the smallest 0.2–3%); 20–29 unipolar LFs, one per class and the rest drawn ∝ √share,
    precision 0.25–0.9, coverage 1–12%; an LF's false votes fall on the other classes by their
    shares, with two "neighbour" classes it confuses more. LFs are conditionally independent
    given the class (the model's assumption holds exactly; the second-moment balance estimate is
    then right within a few points)."""
    rng = np.random.default_rng(3000 + t)
    p = rng.uniform(0.55, 0.8) ** np.arange(k)
    p = (p / p.sum())[rng.permutation(k)]
    m = int(rng.integers(20, 30))
    voted = np.concatenate([np.arange(k), rng.choice(k, m - k, p=np.sqrt(p) / np.sqrt(p).sum())])
    rates = []  # (k,) P(vote | y) per LF
    for c in voted:
        prec, cov = rng.uniform(0.25, 0.9), rng.uniform(0.01, 0.12)
        other = p.copy()
        other[c] = 0.0
        other[rng.choice(np.flatnonzero(np.arange(k) != c), 2, replace=False)] += rng.uniform(
            0.1, 0.4, 2
        )
        other /= other.sum()
        rate = np.where(np.arange(k) == c, cov * prec / p[c], cov * (1 - prec) * other / p)
        rates.append(np.minimum(rate, 0.95))

    def draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        r = np.random.default_rng(seed)
        y = r.choice(k, n, p=p)
        L = np.full((n, m), -1, np.int64)
        for j, (c, rate) in enumerate(zip(voted, rates, strict=True)):
            L[r.random(n) < rate[y], j] = c
        return L, y

    Ltr, _ = draw(n_train, 10 * t + 1)
    Lte, yte = draw(n_test, 10 * t + 2)
    desc = (f"m={m} largest {p.max():.2f} smallest {p.min():.3f} "
            f"covered {(Ltr >= 0).any(axis=1).mean():.2f}")  # fmt: skip
    return Ltr, Lte, yte, p, desc


def semi_problems(data: Path) -> list[tuple[str, int, str, np.ndarray, np.ndarray, np.ndarray,
                                            list[Edge]]]:  # fmt: skip
    """(name, k, metric, L_train, L_test, y_test, planted edges) for each WRENCH set found."""
    out = []
    variants = [("2lf×2", 2, 2), ("4lf×1", 4, 1), ("1lf×4", 1, 4)]
    for ds, (k, metric) in SETS.items():
        if not (data / ds / "train.json").exists():
            continue
        Ltr, _ = load_split(data / ds / "train.json")
        Lte, yte = load_split(data / ds / "test.json")
        for vi, (vname, n_src, n_copies) in enumerate(variants):
            rng = np.random.default_rng(7 + 10 * vi + len(out))
            cov = (Ltr >= 0).mean(axis=0)
            # sources among the better-covered LFs (copies of a never-firing LF are invisible)
            cand = np.flatnonzero(cov >= np.quantile(cov, 0.5))
            srcs = sorted(rng.choice(cand, size=n_src, replace=False).tolist())
            A, B = Ltr.copy(), Lte.copy()
            edges: list[Edge] = []
            for s in srcs:
                keep = rng.uniform(0.85, 0.95)
                seed = int(rng.integers(1 << 30))
                A, new = _add_copies(A, s, n_copies, keep, 0.0, np.random.default_rng(seed))
                B, _ = _add_copies(B, s, n_copies, keep, 0.0, np.random.default_rng(seed + 1))
                members = [s, *new]
                pairs = zip(*np.triu_indices(len(members), 1), strict=True)
                edges += [(members[a], members[b]) for a, b in pairs]
            out.append((f"{ds} {vname}", k, metric, A, B, yte, sorted(set(edges))))
    return out


def learned_edges(model: LabelModel) -> list[Edge]:
    """Edges the model learned (``fit_info["learned_dependencies"]``; empty when none)."""
    learned = model.fit_info.get("learned_dependencies") or {}
    return [(int(a), int(b)) for a, b in learned.get("edges", [])]


def precision_recall(found: Sequence[Edge], truth: Sequence[Edge]) -> tuple[float, float]:
    """Edge precision and recall (precision 1 when nothing is found)."""
    f, t = set(found), set(truth)
    tp = len(f & t)
    return (tp / len(f) if f else 1.0), (tp / len(t) if t else 1.0)


def parse_model(spec: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``key=value`` strings → (LabelModel kwargs, fit kwargs)."""
    kw: dict[str, Any] = {}
    fit_kw: dict[str, Any] = {}
    for item in spec:
        key, _, raw = item.partition("=")
        val: Any = raw
        if raw in ("True", "False"):
            val = raw == "True"
        elif raw == "None":
            val = None
        else:
            try:
                val = float(raw) if "." in raw else int(raw)
            except ValueError:
                val = raw
        (fit_kw if key == "dependencies" else kw)[key] = val
    return kw, fit_kw


def summarise(name: str, diffs: Sequence[float]) -> str:
    a = np.asarray(diffs)
    return (
        f"  {name}: mean {a.mean():+.2f} points, worst {a.min():+.2f}, better than MV on "
        f"{(a > 0).mean():.0%}, more than 2 points below MV on {(a < -2).sum()} of {len(a)}"
    )


def run_planted(count: int, kw: dict[str, Any], fit_kw: dict[str, Any]) -> list[float]:
    diffs = []
    print(f"planted suite ({count} problems), label model {kw} {fit_kw} minus majority vote, "
          "accuracy on covered rows, points")  # fmt: skip
    for t in range(count):
        L, y, k, edges, desc = planted_problem(t)
        stats = LFStats.from_matrix(L, k)
        cov = (L >= 0).any(axis=1)
        mv = float((MajorityVote(k).predict(L) == y)[cov].mean()) * 100
        model = LabelModel(k, **kw).fit(stats, **fit_kw)
        lm = float((model.predict(L) == y)[cov].mean()) * 100
        pr, rc = precision_recall(learned_edges(model), edges)
        diffs.append(lm - mv)
        print(f"  {t:>3} {desc:<62} MV {mv:6.2f}  LM−MV {lm - mv:+6.2f}  "
              f"({model.fit_info.get('balance')}) edges P {pr:.2f} R {rc:.2f}")  # fmt: skip
    print(summarise("planted", diffs))
    return diffs


def run_semi(data: Path, kw: dict[str, Any], fit_kw: dict[str, Any]) -> list[float]:
    diffs = []
    print(f"semi-synthetic suite: WRENCH + injected near-copies, label model {kw} {fit_kw} minus "
          "majority vote (WRENCH metric, test split), points")  # fmt: skip
    for name, k, metric, Ltr, Lte, yte, edges in semi_problems(data):
        stats = LFStats.from_matrix(Ltr, k)
        mv = score(wrench_argmax(MajorityVote(k).fit(stats).predict_proba(Lte)), yte, metric)
        model = LabelModel(k, **kw).fit(stats, **fit_kw)
        lm = score(wrench_argmax(model.predict_proba(Lte)), yte, metric)
        found = learned_edges(model)
        rc = precision_recall(found, edges)[1]
        extra = len(set(found) - set(edges))
        diffs.append(lm - mv)
        print(f"  {name:<14} m={Ltr.shape[1]:<3} MV {mv:6.2f}  LM {lm:6.2f}  LM−MV {lm - mv:+6.2f}"
              f"  ({model.fit_info.get('balance')}) planted edges recalled {rc:.2f}, "
              f"other learned edges {extra}")  # fmt: skip
    if diffs:
        print(summarise("semi-synthetic", diffs))
    else:
        print(f"  skip: no WRENCH data under {data}")
    return diffs


def run_rare(count: int, kw: dict[str, Any], fit_kw: dict[str, Any], suite: str = "rare-class"
             ) -> tuple[list[float], list[float]]:  # fmt: skip
    """LM − MV in points per problem: (the configuration as given, the same given the true
    class balance); ``suite`` "rare-class" (:func:`rare_problem`), "shared-context"
    (:func:`context_problem`), "shared-context + copies" (:func:`context_copies_problem`) — F1 of
    the positive class — or "10-class" (:func:`multiclass_problem`, accuracy)."""
    make, k, metric = {"rare-class": (rare_problem, 2, "f1"),
                       "shared-context": (context_problem, 2, "f1"),
                       "shared-context + copies": (context_copies_problem, 2, "f1"),
                       "10-class": (multiclass_problem, 10, "acc")}[suite]  # fmt: skip
    what = "accuracy" if metric == "acc" else "F1 of the positive class"
    diffs, given = [], []
    print(f"{suite} suite ({count} problems), label model {kw} {fit_kw} minus majority vote, "
          f"{what} on the test draw (WRENCH tie-break), points")  # fmt: skip
    for t in range(count):
        Ltr, Lte, yte, p, desc = make(t)
        balance = np.asarray([1 - p, p] if k == 2 else p, float)
        stats = LFStats.from_matrix(Ltr, k)
        mv = score(wrench_argmax(MajorityVote(k).fit(stats).predict_proba(Lte)), yte, metric)
        model = LabelModel(k, **kw).fit(stats, **fit_kw)
        lm = score(wrench_argmax(model.predict_proba(Lte)), yte, metric)
        told = LabelModel(k, **kw).fit(stats, **{**fit_kw, "class_balance": balance})
        lm_p = score(wrench_argmax(told.predict_proba(Lte)), yte, metric)
        diffs.append(lm - mv)
        given.append(lm_p - mv)
        # two classes: the positive share; more: the largest class's share
        shown = model.class_balance[1] if k == 2 else model.class_balance.max()
        print(f"  {t:>3} {desc:<50} MV {mv:6.2f}  LM−MV {lm - mv:+6.2f} "
              f"({model.fit_info.get('balance')} {shown:.2f})  "
              f"given the balance: LM−MV {lm_p - mv:+6.2f}")  # fmt: skip
    print(summarise(suite, diffs))
    print(summarise(f"{suite}, true balance given", given))
    return diffs, given


def identifiable(L: np.ndarray, k: int, edges: Sequence[Edge]) -> bool:
    """Every class voted by ≥ 3 LFs outside the planted clusters: only then is the rank-(k − 1)
    class signal over-determined enough to tell a dependent pair from it."""
    clustered = {i for e in edges for i in e}
    free = [j for j in range(L.shape[1]) if j not in clustered]
    per_class = [sum(bool((L[:, j] == c).any()) for j in free) for c in range(k)]
    return min(per_class) >= 3


def run_edges(count: int, n: int, kw: dict[str, Any]) -> tuple[float, float]:
    print(f"planted structure recovery at n = {n:,} ({count} problems)")
    ps, rs, ident = [], [], []
    for t in range(count):
        L, _, k, edges, desc = planted_problem(t, n=n)
        stats = LFStats.from_matrix(L, k)
        t0 = time.perf_counter()
        model = LabelModel(k, **kw).fit(stats, dependencies="auto")
        fit_s = time.perf_counter() - t0
        found = learned_edges(model)
        pr, rc = precision_recall(found, edges)
        ps.append(pr)
        rs.append(rc)
        ident.append(identifiable(L, k, edges))
        print(f"  {t:>3} {desc:<62} planted {len(edges):>2} learned {len(found):>2}  "
              f"P {pr:.2f} R {rc:.2f}  fit {fit_s:.2f} s"
              f"{'' if ident[-1] else '  (a class has < 3 free LFs)'}")  # fmt: skip
    print(f"  edges: mean precision {np.mean(ps):.3f}, mean recall {np.mean(rs):.3f}, "
          f"min precision {np.min(ps):.2f}, min recall {np.min(rs):.2f}")  # fmt: skip
    sel = np.array(ident)
    if sel.any():
        print(f"  edges on the {int(sel.sum())} problems where every class has >= 3 free LFs: "
              f"mean precision {np.mean(np.array(ps)[sel]):.3f}, "
              f"mean recall {np.mean(np.array(rs)[sel]):.3f}")  # fmt: skip
    return float(np.mean(ps)), float(np.mean(rs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--planted", type=int, default=0, help="run N planted-structure problems")
    ap.add_argument("--semi", action="store_true", help="run the semi-synthetic WRENCH suite")
    ap.add_argument("--edges", type=int, default=0, help="edge P/R on N problems at --edge-n rows")
    ap.add_argument("--edge-n", type=int, default=100_000)
    ap.add_argument("--rare", type=int, default=0, help="run N rare-class (F1) problems")
    ap.add_argument(
        "--context", type=int, default=0,
        help="run N shared-context (F1) draws, each with sound and with confused negative LFs",
    )  # fmt: skip
    ap.add_argument(
        "--context-copies", type=int, default=0,
        help="run N shared-context draws (sound LFs) with near-copies of two positive LFs",
    )  # fmt: skip
    ap.add_argument(
        "--multiclass", type=int, default=0,
        help="run N imbalanced 10-class (accuracy) problems",
    )  # fmt: skip
    ap.add_argument(
        "--all", action="store_true",
        help="--planted 24 --semi --edges 8 --rare 16 --context 12 --context-copies 12 "
        "--multiclass 12",
    )  # fmt: skip
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", nargs="*", default=[], help="LabelModel key=value settings")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    kw, fit_kw = parse_model(args.model)
    if args.all:
        args.planted, args.semi, args.edges = args.planted or 24, True, args.edges or 8
        args.rare, args.context = args.rare or 16, args.context or 12
        args.context_copies = args.context_copies or 12
        args.multiclass = args.multiclass or 12
    if args.planted:
        run_planted(args.planted, kw, fit_kw)
    if args.semi:
        run_semi(args.data, kw, fit_kw)
    if args.edges:
        run_edges(args.edges, args.edge_n, kw)
    if args.rare:
        run_rare(args.rare, kw, fit_kw)
    if args.context:
        run_rare(2 * args.context, kw, fit_kw, suite="shared-context")
    if args.context_copies:
        run_rare(args.context_copies, kw, fit_kw, suite="shared-context + copies")
    if args.multiclass:
        run_rare(args.multiclass, kw, fit_kw, suite="10-class")
    if not (args.planted or args.semi or args.edges or args.rare or args.context
            or args.context_copies or args.multiclass):  # fmt: skip
        ap.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
