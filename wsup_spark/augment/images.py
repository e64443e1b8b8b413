"""Image-array TFs: rotate, shift, shear, scale, elastic, blur, noise, erase (numpy/scipy).

Every TF here is vectorized: it takes an (n, h, w) float array of grey images with values in
[0, 1] (background 0) and returns the same shape. ``strength`` in [0, 1] scales the magnitude
(the maximum is in each TF's docstring); directions and positions are drawn per row from the
batch's :class:`~wsup_spark.augment.randomness.BatchRandom`. Geometric TFs resample with bilinear
interpolation in one ``scipy.ndimage.map_coordinates`` call for the whole batch (each image with
its own affine map). Pixels from outside the image are 0.

``invert`` and ``heavy_noise`` destroy the class for most data sets: they exist to test that a
learned policy learns to avoid them (``scripts/bench_augment.py --add-bad-tf``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wsup_spark.augment.base import TransformationFunction, vectorized_tf
from wsup_spark.augment.randomness import BatchRandom
from wsup_spark.errors import DataError

__all__ = [
    "BAD_IMAGE_TFS",
    "IMAGE_TFS",
    "blur",
    "elastic",
    "erase",
    "heavy_noise",
    "invert",
    "noise",
    "rotate",
    "scale",
    "shear",
    "shift",
]

MAX_ROTATE_DEG = 30.0
MAX_SHIFT_FRAC = 0.2
MAX_SHEAR = 0.4
MAX_SCALE = 0.3
MAX_ELASTIC_FRAC = 0.12
MAX_BLUR_SIGMA = 1.2
MAX_NOISE_STD = 0.25
MAX_ERASE_FRAC = 0.5


def _images(xs: Any, name: str) -> np.ndarray:
    arr = np.asarray(xs, dtype=np.float64)
    if arr.ndim != 3:
        raise DataError(
            f"image TF {name!r} needs a batch of grey images (n, h, w); got shape {arr.shape}. "
            "Reshape flat pixel rows first (image_shape=(h, w))"
        )
    return arr


def _affine(xs: np.ndarray, mats: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Resample each image: ``out[b, p] = x[b, mats[b] @ (p - c) + c + offsets[b]]``.

    Parameters
    ----------
    xs : (n, h, w) float64
    mats : (n, 2, 2) float64
        Output-to-input maps on (row, col) coordinates about the image centre.
    offsets : (n, 2) float64
        Input-space translation in pixels.

    Returns
    -------
    (n, h, w) float64
    """
    from scipy.ndimage import map_coordinates

    n, h, w = xs.shape
    c = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    rr, cc = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                         indexing="ij")  # fmt: skip
    p = np.stack([rr - c[0], cc - c[1]])  # (2, h, w)
    src = np.einsum("nij,jhw->nihw", mats, p) + (c + offsets)[:, :, None, None]
    bidx = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], (n, h, w))
    coords = np.stack([bidx, src[:, 0], src[:, 1]])
    return map_coordinates(xs, coords, order=1, mode="constant", cval=0.0)  # type: ignore[no-any-return]


def _eye(n: int) -> np.ndarray:
    return np.broadcast_to(np.eye(2), (n, 2, 2)).copy()


@vectorized_tf(default_strength=0.5, kind="image")
def rotate(xs: Any, rand: BatchRandom, strength: np.ndarray) -> np.ndarray:
    """Rotate by ±strength·30° about the centre."""
    x = _images(xs, "rotate")
    theta = np.deg2rad(MAX_ROTATE_DEG) * strength * rand.sign()
    cos, sin = np.cos(theta), np.sin(theta)
    mats = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
    return _affine(x, mats, np.zeros((len(x), 2)))


@vectorized_tf(default_strength=0.5, kind="image")
def shift(xs: Any, rand: BatchRandom, strength: np.ndarray) -> np.ndarray:
    """Translate by up to strength·20% of the image size along each axis."""
    x = _images(xs, "shift")
    size = np.array(x.shape[1:], np.float64)
    off = (rand.uniform(2) * 2.0 - 1.0) * MAX_SHIFT_FRAC * size * strength[:, None]
    return _affine(x, _eye(len(x)), off)


@vectorized_tf(default_strength=0.5, kind="image")
def shear(xs: Any, rand: BatchRandom, strength: np.ndarray) -> np.ndarray:
    """Horizontal shear with factor ±strength·0.4."""
    x = _images(xs, "shear")
    mats = _eye(len(x))
    mats[:, 1, 0] = MAX_SHEAR * strength * rand.sign()
    return _affine(x, mats, np.zeros((len(x), 2)))


@vectorized_tf(default_strength=0.5, kind="image")
def scale(xs: Any, rand: BatchRandom, strength: np.ndarray) -> np.ndarray:
    """Zoom in or out by a factor 1 ± strength·0.3."""
    x = _images(xs, "scale")
    factor = 1.0 + MAX_SCALE * strength * rand.sign()
    mats = _eye(len(x)) / factor[:, None, None]
    return _affine(x, mats, np.zeros((len(x), 2)))


@vectorized_tf(default_strength=0.5, kind="image")
def elastic(xs: Any, rand: BatchRandom, strength: np.ndarray) -> np.ndarray:
    """Elastic distortion (Simard et al. 2003): a smooth random displacement field of up to
    strength·12% of the image size."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    x = _images(xs, "elastic")
    n, h, w = x.shape
    sigma = max(1.0, 0.15 * min(h, w))
    field = gaussian_filter(rand.normal(2, h, w), sigma=(0, 0, sigma, sigma), mode="constant")
    peak = np.abs(field).reshape(n, -1).max(axis=1) + 1e-12
    amp = MAX_ELASTIC_FRAC * min(h, w) * strength / peak
    field = field * amp[:, None, None, None]
    rr, cc = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                         indexing="ij")  # fmt: skip
    bidx = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], (n, h, w))
    coords = np.stack([bidx, rr + field[:, 0], cc + field[:, 1]])
    return map_coordinates(x, coords, order=1, mode="constant", cval=0.0)  # type: ignore[no-any-return]


@vectorized_tf(default_strength=0.5, kind="image")
def blur(xs: Any, strength: np.ndarray) -> np.ndarray:
    """Gaussian blur with sigma = strength·1.2 pixels (no randomness)."""
    from scipy.ndimage import gaussian_filter

    x = _images(xs, "blur")
    out = x.copy()
    sig = np.round(MAX_BLUR_SIGMA * np.asarray(strength, np.float64), 3)
    for s in np.unique(sig):
        if s <= 0:
            continue
        rows = sig == s
        out[rows] = gaussian_filter(x[rows], sigma=(0, float(s), float(s)), mode="constant")
    return out


@vectorized_tf(default_strength=0.5, kind="image")
def noise(xs: Any, rand: BatchRandom, strength: np.ndarray) -> np.ndarray:
    """Additive Gaussian noise with std strength·0.25, clipped to [0, 1]."""
    x = _images(xs, "noise")
    std = MAX_NOISE_STD * strength[:, None, None]
    return np.clip(x + std * rand.normal(*x.shape[1:]), 0.0, 1.0)  # type: ignore[no-any-return]


@vectorized_tf(default_strength=0.5, kind="image")
def erase(xs: Any, rand: BatchRandom, strength: np.ndarray) -> np.ndarray:
    """Cutout: zero a random rectangle with sides up to strength·50% of the image's."""
    x = _images(xs, "erase")
    h, w = x.shape[1:]
    size = np.array([h, w], np.float64)
    side = np.maximum(1.0, np.round(MAX_ERASE_FRAC * size[None, :] * strength[:, None]))
    side = np.where(strength[:, None] > 0, side, 0.0)
    start = np.floor(rand.uniform(2) * (size[None, :] - side + 1.0))
    r = np.arange(h)[None, :]
    c = np.arange(w)[None, :]
    in_r = (r >= start[:, :1]) & (r < start[:, :1] + side[:, :1])  # (n, h)
    in_c = (c >= start[:, 1:]) & (c < start[:, 1:] + side[:, 1:])  # (n, w)
    mask = in_r[:, :, None] & in_c[:, None, :]
    return np.where(mask, 0.0, x)


@vectorized_tf(default_strength=1.0, kind="image")
def invert(xs: Any) -> np.ndarray:
    """``1 - x`` (destructive for most data sets; a robustness test TF)."""
    return 1.0 - _images(xs, "invert")


@vectorized_tf(default_strength=1.0, kind="image")
def heavy_noise(xs: Any, rand: BatchRandom, strength: np.ndarray) -> np.ndarray:
    """Replace a fraction 0.5 + strength·0.4 of the pixels with uniform noise (destructive; a
    robustness test TF)."""
    x = _images(xs, "heavy_noise")
    frac = (0.5 + 0.4 * strength)[:, None, None]
    u = rand.uniform(*x.shape[1:])
    return np.where(u < frac, rand.uniform(*x.shape[1:]), x)


#: The useful image TFs, in a stable order.
IMAGE_TFS: tuple[TransformationFunction, ...] = (
    rotate, shift, shear, scale, elastic, blur, noise, erase,
)  # fmt: skip
#: Destructive image TFs for robustness tests.
BAD_IMAGE_TFS: tuple[TransformationFunction, ...] = (invert, heavy_noise)
