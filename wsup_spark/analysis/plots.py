"""Report plots (matplotlib, Agg canvas, no pyplot state): each function returns a Figure.

:func:`to_data_uri` turns a figure into a ``data:image/png;base64`` URI so the HTML report is one
self-contained file. The figures never touch the global pyplot backend, so drawing a report inside
a notebook does not change the notebook's backend.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wsup_spark.analysis.diagnostics import ConfidenceHistogram, GoldDiagnostics

DPI = 130
COLORS = {
    "coverage": "#4C72B0",
    "overlaps": "#55A868",
    "conflicts": "#DD8452",
    "label_model": "#4C72B0",
    "majority_vote": "#DD8452",
    "uncovered": "#B0B0B0",
}
CLASS_COLORS = [
    "#4C72B0",
    "#DD8452",
    "#55A868",
    "#C44E52",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
]
MODEL_LABELS = {"label_model": "label model", "majority_vote": "majority vote"}


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError as e:  # a core dependency: only a broken install gets here
        raise ModuleNotFoundError(
            f"the report's plots need matplotlib, a dependency of wsup-spark that is missing from "
            f"this environment ({e}); run: pip install -e . (or pip install 'matplotlib>=3.7')"
        ) from e

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=9)
    ax.grid(axis="both", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)


def to_data_uri(fig: Any) -> str:
    """PNG ``data:`` URI of a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


#: LF names longer than this are shortened with "…" on the plots (the LF table has them whole).
NAME_WIDTH = 40


def _short(names: Sequence[str], width: int = 28) -> list[str]:
    return [n if len(n) <= width else n[: width - 1] + "…" for n in names]


def lf_bars(
    names: Sequence[str], coverage: np.ndarray, overlaps: np.ndarray, conflicts: np.ndarray
) -> Any:
    """Horizontal grouped bars per LF: coverage, overlaps, conflicts (fractions of rows)."""
    m = len(names)
    fig = _figure(6.4, 0.42 * m + 1.3)
    ax = fig.add_subplot()
    y = np.arange(m)
    h = 0.26
    for off, key, vals in (
        (-h, "coverage", coverage),
        (0.0, "overlaps", overlaps),
        (h, "conflicts", conflicts),
    ):
        ax.barh(y + off, vals, height=h, color=COLORS[key], label=key)
    ax.set_yticks(y, _short(names, NAME_WIDTH))
    ax.invert_yaxis()
    ax.set_xlim(
        0, max(1e-9, float(np.max([coverage.max(), overlaps.max(), conflicts.max()]))) * 1.1
    )
    ax.xaxis.set_major_formatter(_pct_formatter())
    ax.set_xlabel("fraction of rows", fontsize=9)
    _style(ax)
    ax.grid(axis="y", visible=False)
    ax.legend(fontsize=8, frameon=False, loc="lower center", ncol=3, bbox_to_anchor=(0.5, 1.0))
    return fig


def _pct_formatter(decimals: int | None = 0) -> Any:
    """Fractions as percent; ``decimals=None`` picks enough decimals for the axis range (no
    repeated tick labels on a 0–5% colour bar)."""
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=decimals)


def accuracy_scatter(
    names: Sequence[str],
    learned: Sequence[float | None],
    empirical: Sequence[float | None],
    coverage: np.ndarray,
) -> Any:
    """Learned (label model) vs empirical (gold) accuracy per LF; marker area ∝ coverage."""
    fig = _figure(5.6, 5.0)
    ax = fig.add_subplot()
    pts = [
        (i, float(x), float(y))
        for i, (x, y) in enumerate(zip(empirical, learned, strict=True))
        if x is not None and y is not None
    ]
    lo = min([0.5] + [min(x, y) for _, x, y in pts]) - 0.05
    ax.plot([lo, 1.02], [lo, 1.02], color="#999999", linestyle="--", linewidth=1)
    if pts:
        idx = [i for i, _, _ in pts]
        xs, ys = [x for _, x, _ in pts], [y for _, _, y in pts]
        sizes = 30 + 400 * np.asarray(coverage, float)[idx]
        ax.scatter(
            xs,
            ys,
            s=sizes,
            color=COLORS["label_model"],
            alpha=0.7,
            edgecolor="white",
            linewidth=0.8,
            zorder=3,
        )
    ax.set_xlim(lo, 1.02)
    ax.set_ylim(lo, 1.02)
    ax.set_xlabel("empirical accuracy on gold rows", fontsize=9)
    ax.set_ylabel("learned accuracy (label model)", fontsize=9)
    _style(ax)
    if pts:
        _label_points(ax, [(names[i], x, y) for i, x, y in pts], list(sizes))
    return fig


#: Where a point's name may go, tried in order: (distance in points, angle in degrees).
_LABEL_SPOTS = [(r, a) for r in (7, 16, 28, 42, 58, 76, 96)
                for a in (0, 180, 60, 300, 120, 240, 90, 270, 30, 330, 150, 210)]  # fmt: skip


def _label_points(
    ax: Any, pts: Sequence[tuple[str, float, float]], marker_sizes: Sequence[float]
) -> None:
    """Name each point without overlaps: each label takes the first spot around its point (near
    to far, right and left first) where it stays inside the axes and covers no other label and no
    marker; a leader line joins a label set apart. A label with no free spot becomes the point's
    number, and the names of numbered points are listed under the axes."""
    fig = ax.figure
    fig.canvas.draw()  # settle the layout: positions below are in final display pixels
    renderer = fig.canvas.get_renderer()
    to_px = fig.dpi / 72.0
    box = ax.get_window_extent(renderer)
    centers = ax.transData.transform([(x, y) for _, x, y in pts])
    radii = [np.sqrt(s) / 2 * to_px + 2 for s in marker_sizes]  # scatter sizes are points²
    taken: list[tuple[float, float, float, float]] = [
        (cx - r, cy - r, cx + r, cy + r) for (cx, cy), r in zip(centers, radii, strict=True)
    ]
    numbered: list[str] = []
    order = sorted(range(len(pts)), key=lambda i: -marker_sizes[i])
    for i in order:
        name = _short([pts[i][0]], 30)[0]
        probe = ax.text(0, 0, name, fontsize=7.5)
        ext = probe.get_window_extent(renderer)
        probe.remove()
        w, h = ext.width + 2, ext.height + 2
        cx, cy = centers[i]
        spot = None
        for r, a in _LABEL_SPOTS:
            dx, dy = np.cos(np.radians(a)), np.sin(np.radians(a))
            ox, oy = cx + (radii[i] - 2 + r * to_px) * dx, cy + (radii[i] - 2 + r * to_px) * dy
            x0 = ox if dx > 0.3 else (ox - w if dx < -0.3 else ox - w / 2)
            y0 = oy - h / 2 if abs(dy) < 0.6 else (oy if dy > 0 else oy - h)
            rect = (x0, y0, x0 + w, y0 + h)
            inside = _hits((box.x0, box.y0, box.x1, box.y1), rect, inside=True)
            if inside and not any(_hits(rect, t) for j, t in enumerate(taken) if j != i):
                spot = (rect, r, dx, dy)
                break
        if spot is None:
            numbered.append(f"{len(numbered) + 1}: {pts[i][0]}")
            name = str(len(numbered))
            spot = ((cx, cy, cx, cy), 0, 0.0, 0.0)
        rect, r, dx, dy = spot
        taken.append(rect)
        tx, ty = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
        ann = ax.annotate(
            name, pts[i][1:], xytext=ax.transData.inverted().transform((tx, ty)),
            ha="center", va="center", fontsize=7.5, color="#333333",
            arrowprops={"arrowstyle": "-", "color": "#aaaaaa", "linewidth": 0.6,
                        "shrinkA": 0, "shrinkB": radii[i] / to_px} if r > 7 else None,
        )  # fmt: skip
        ann.set_in_layout(False)
    if numbered:
        ax.set_title("  ".join(numbered), fontsize=7, loc="left", wrap=True)


Rect = tuple[float, float, float, float]


def _hits(a: Rect, b: Rect, inside: bool = False) -> bool:
    """Whether rectangles ``(x0, y0, x1, y1)`` overlap (``inside``: whether ``b`` lies in
    ``a``)."""
    if inside:
        return a[0] <= b[0] and b[2] <= a[2] and a[1] <= b[1] and b[3] <= a[3]
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def learned_accuracy_bars(names: Sequence[str], learned: Sequence[float | None]) -> Any:
    """Learned accuracy per LF (used when the corpus has no gold labels)."""
    m = len(names)
    fig = _figure(6.4, 0.36 * m + 1.2)
    ax = fig.add_subplot()
    vals = [np.nan if v is None else v for v in learned]
    ax.barh(np.arange(m), vals, color=COLORS["label_model"], height=0.6)
    ax.set_yticks(np.arange(m), _short(names, NAME_WIDTH))
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("learned accuracy (label model)", fontsize=9)
    _style(ax)
    return fig


def pair_heatmaps(names: Sequence[str], overlap: np.ndarray, conflict: np.ndarray) -> Any:
    """LF×LF heat maps: rows where both LFs vote (overlap) and where they disagree (conflict)."""
    m = len(names)
    labels = _short(names, NAME_WIDTH)
    # room for the names (0.07 in per character at 7.5 pt) left of and below each map
    text = 0.075 * max((len(s) for s in labels), default=0)
    side = min(max(3.2, 0.38 * m + 1.8), 9.0)
    fig = _figure(2 * (side + text) + 1.6, side + text + 0.6)
    show_ticks = m <= 40
    for pos, (mat, title, cmap) in enumerate(
        (
            (overlap, "overlap: both vote", "Blues"),
            (conflict, "conflict: both vote, disagree", "Oranges"),
        )
    ):
        ax = fig.add_subplot(1, 2, pos + 1)
        shown = np.array(mat, float)
        if pos == 1:
            np.fill_diagonal(shown, np.nan)
        # colour scale from the pairs: the overlap diagonal (coverage) would wash them out
        off = shown[~np.eye(m, dtype=bool)]
        off = off[np.isfinite(off)]
        diag = np.diag(shown)[np.isfinite(np.diag(shown))]
        vmax = float(off.max()) if off.size and off.max() > 0 else float(diag.max(initial=0.0))
        im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=max(vmax, 1e-9))
        ax.set_title(title, fontsize=10)
        if show_ticks:
            ax.set_xticks(np.arange(m), labels, rotation=60, ha="right", fontsize=7.5)
            ax.set_yticks(np.arange(m), labels, fontsize=7.5)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        if m <= 12:
            for i in range(m):
                for j in range(m):
                    if np.isfinite(shown[i, j]):
                        dark = shown[i, j] > 0.6 * max(vmax, 1e-9)
                        ax.text(
                            j,
                            i,
                            f"{100 * shown[i, j]:.0f}",
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if dark else "#333333",
                        )
        cb = fig.colorbar(im, ax=ax, shrink=0.8, format=_pct_formatter(None))
        cb.ax.tick_params(labelsize=8)
    return fig


def class_balance(class_names: Sequence[str], series: Mapping[str, np.ndarray]) -> Any:
    """Grouped bars: class distributions (estimated prior, predicted labels, gold)."""
    k = len(class_names)
    fig = _figure(5.6, 3.4)
    ax = fig.add_subplot()
    x = np.arange(k)
    w = 0.8 / max(len(series), 1)
    for s, (label, vals) in enumerate(series.items()):
        bars = ax.bar(
            x - 0.4 + w * (s + 0.5),
            vals,
            width=w,
            label=label,
            color=CLASS_COLORS[s % len(CLASS_COLORS)],
        )
        if k <= 6:
            ax.bar_label(bars, labels=[f"{v:.2f}" for v in vals], fontsize=7, padding=2)
    ax.set_xticks(x, list(class_names))
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.set_ylabel("fraction", fontsize=9)
    _style(ax)
    ax.grid(axis="x", visible=False)
    ax.legend(
        fontsize=8, frameon=False, loc="upper center", ncol=len(series), bbox_to_anchor=(0.5, 1.14)
    )
    return fig


def confidence_histogram(hist: ConfidenceHistogram, class_names: Sequence[str]) -> Any:
    """Stacked histogram of the label model's confidence by predicted label; rows without any
    LF vote in grey."""
    fig = _figure(6.0, 4.4)
    ax = fig.add_subplot()
    edges = hist.edges
    width = np.diff(edges)
    bottom = np.zeros(len(width))
    for a, name in enumerate(class_names):
        ax.bar(
            edges[:-1],
            hist.counts[:, a],
            width=width,
            bottom=bottom,
            align="edge",
            color=CLASS_COLORS[a % len(CLASS_COLORS)],
            edgecolor="white",
            linewidth=0.5,
            label=f"predicted {name}",
        )
        bottom += hist.counts[:, a]
    if hist.uncovered.any():
        ax.bar(
            edges[:-1],
            hist.uncovered,
            width=width,
            bottom=bottom,
            align="edge",
            color=COLORS["uncovered"],
            edgecolor="white",
            linewidth=0.5,
            label="no LF vote",
        )
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("confidence  max_y P(y | votes)", fontsize=9)
    totals = bottom + hist.uncovered
    nz = totals[totals > 0]
    skewed = nz.size > 1 and nz.max() / nz.min() > 50
    top = float(nz.max()) if nz.size else 1.0
    if skewed:
        ax.set_yscale("log")
        ax.set_ylim(0.8, top * 2.5)  # headroom: the tallest bar is never cut
    else:
        ax.set_ylim(0, top * 1.1)
    ax.set_ylabel("rows (log scale)" if skewed else "rows", fontsize=9)
    _style(ax)
    ax.grid(axis="x", visible=False)
    # above the axes, so it never covers a bar
    ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0),
              ncol=min(len(class_names) + 1, 4))  # fmt: skip
    return fig


def calibration_curve(gold: GoldDiagnostics, edges: np.ndarray) -> Any:
    """Reliability diagram from gold rows (accuracy vs mean confidence per bin) with the number
    of gold rows per bin underneath."""
    fig = _figure(5.6, 5.2)
    gs = fig.add_gridspec(2, 1, height_ratios=[3, 1])
    ax = fig.add_subplot(gs[0])
    axc = fig.add_subplot(gs[1], sharex=ax)
    lo = float(edges[0])
    ax.plot(
        [lo, 1], [lo, 1], color="#999999", linestyle="--", linewidth=1, label="perfectly calibrated"
    )
    centers = (edges[:-1] + edges[1:]) / 2
    width = np.diff(edges)
    names = list(gold.models)
    ymin = lo
    for s, name in enumerate(names):
        conf, acc, cnt = gold.reliability(name)
        ok = cnt > 0
        if ok.any():
            ymin = min(ymin, float(np.min(acc[ok])))
        style = "-" if name == "label_model" else ":"
        color = COLORS.get(name, CLASS_COLORS[s % len(CLASS_COLORS)])
        ax.plot(
            conf[ok],
            acc[ok],
            style,
            color=color,
            linewidth=1.4,
            label=f"{MODEL_LABELS.get(name, name)} (ECE {gold.ece(name):.3f})",
        )
        share = cnt[ok] / max(int(cnt.sum()), 1)
        ax.scatter(
            conf[ok],
            acc[ok],
            s=12 + 180 * np.sqrt(share),
            color=color,
            alpha=0.75,
            edgecolor="white",
            linewidth=0.6,
            zorder=3,
        )
        if name == "label_model" or len(names) == 1:
            axc.bar(centers, cnt, width=width * 0.9, color=COLORS["label_model"], alpha=0.8)
    ax.set_xlim(lo - 0.01, 1.01)
    ax.set_ylim(max(ymin - 0.05, -0.02), 1.02)
    ax.set_ylabel("accuracy on gold rows", fontsize=9)
    _style(ax)
    ax.legend(fontsize=8, frameon=True, framealpha=0.9, edgecolor="none", loc="lower right")
    counts = gold.calib_count.get("label_model", next(iter(gold.calib_count.values())))
    nz = counts[counts > 0]
    skewed = nz.size > 1 and nz.max() / nz.min() > 50
    if skewed:
        axc.set_yscale("log")
    axc.set_xlabel("confidence (bin mean)", fontsize=9)
    axc.set_ylabel("gold rows (log)" if skewed else "gold rows", fontsize=9)
    _style(axc)
    axc.grid(axis="x", visible=False)
    return fig
