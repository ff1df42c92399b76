"""Image decoding and resizing on the host: any image → float32 (C, H, W) in 0..1.

Normalization (mean/std) happens inside the graph; this module only decodes, fixes the
colour order and resizes, with the same code for training, export checks and devices.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np

from edgefuse.runtime._deps import require
from edgefuse.runtime.contract import ImageSpec
from edgefuse.runtime.errors import InputError

MAX_PIXELS = 64_000_000
"""Images whose header declares more pixels are refused before decoding (decompression bombs)."""

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
"""Pillow decoders allowed to open files. Others (EPS runs Ghostscript, and many rarely used,
rarely fuzzed parsers) are never tried, so a hostile file cannot reach them."""

ImageSource = str | os.PathLike | np.ndarray

# Pillow warns (UserWarning, e.g. "Corrupt EXIF data") about damaged metadata of images it still
# decodes. The pixels are what matters here, and a CLI error must stay one line on stderr; a
# process-wide filter is used because warnings.catch_warnings is not thread-safe.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


def load_image(source: ImageSource, spec: ImageSpec) -> np.ndarray:
    """Decode `source` (a path, or an (H, W[, C]) array in RGB order) to (C, H, W) float32 0..1."""
    pixels = source if isinstance(source, np.ndarray) else read_image_file(source)
    return image_to_tensor(pixels, spec)


def read_image_file(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to an (H, W) or (H, W, C) uint8/uint16 array in RGB(A) order.

    Only the header is read before the pixel count is checked against MAX_PIXELS; only the
    first frame of animated or multi-page files is decoded.
    """
    Image = require("PIL.Image")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}; check the path")
    if path.stat().st_size == 0:
        raise InputError(f"image file {path} is empty (0 bytes); pass a PNG or JPEG file")
    try:
        with Image.open(path, formats=FORMATS) as im:
            _check_pixel_count(im.size, path)
            return _decode(im)
    except InputError:
        raise
    except Image.DecompressionBombError:  # Pillow's own header check, above its 2 x 89 M pixel limit
        raise InputError(f"image {path} declares more than {MAX_PIXELS:,} pixels; downscale it first") from None
    except Image.UnidentifiedImageError:
        raise InputError(f"{path} is not an image in a supported format ({', '.join(FORMATS)}); convert it to PNG or JPEG") from None
    except Exception as e:  # PIL raises many types for corrupt or truncated files
        raise InputError(f"cannot decode image {path} ({type(e).__name__}: {e}); it may be truncated or corrupted, use a valid PNG or JPEG") from None


def _check_pixel_count(size: tuple[int, int], path: Path) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise InputError(f"image {path} declares {w}x{h} pixels, more than {MAX_PIXELS:,}; downscale it first")
    if w < 1 or h < 1:
        raise InputError(f"image {path} declares {w}x{h} pixels; pass an image with at least one pixel")


def _decode(im) -> np.ndarray:
    """An open Pillow image → (H, W) uint16 for 16/32-bit gray, else (H, W, 3|4) uint8 RGB(A)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return np.asarray(im, dtype=np.float64).clip(0, 65535).astype(np.uint16)
    if im.mode == "F":  # 32-bit float TIFF: values are taken as 0..1 intensities
        pixels = np.asarray(im, dtype=np.float32)
        return np.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0).clip(0.0, 1.0)
    has_alpha = "A" in im.getbands() or (im.mode == "P" and "transparency" in im.info)
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


def image_to_tensor(pixels: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """(H, W[, C]) array, RGB(A) order, uint8/uint16 or float 0..1 → (C, H, W) float32 0..1."""
    x = _to_unit_float(pixels)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[2] not in (1, 2, 3, 4) or min(x.shape[:2]) < 1:
        raise InputError(f"image array has shape {pixels.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if x.shape[2] in (2, 4):  # drop alpha
        x = x[:, :, :-1]
    if spec.color_order == "GRAY":
        x = x.mean(axis=2, keepdims=True) if x.shape[2] == 3 else x
    else:
        x = np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x
        if spec.color_order == "BGR":
            x = x[:, :, ::-1]
    # Filter weights sum to 1 only up to rounding; clipping keeps the promised 0..1 exactly.
    x = np.clip(resize(x, spec.height, spec.width, spec.resize), 0.0, 1.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def resize(x: np.ndarray, height: int, width: int, mode: str = "bilinear") -> np.ndarray:
    """Resize (H, W, C) float32 to (height, width, C); bilinear is antialiased when shrinking."""
    h, w = x.shape[:2]
    if (h, w) == (height, width):
        return x
    if mode == "nearest":
        rows = np.minimum((np.arange(height) + 0.5) * h / height, h - 1).astype(int)
        cols = np.minimum((np.arange(width) + 0.5) * w / width, w - 1).astype(int)
        return x[rows][:, cols]
    out = np.einsum("oh,hwc->owc", _bilinear_weights(h, height), x, optimize=True)
    return np.einsum("pw,owc->opc", _bilinear_weights(w, width), out, optimize=True).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _bilinear_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) triangle-filter weights, widened by the scale when shrinking (antialias)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centers = (np.arange(n_out) + 0.5) * scale - 0.5
    taps = np.arange(n_in)
    weights = np.clip(1.0 - np.abs(taps[None, :] - centers[:, None]) / support, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights.astype(np.float32)


def _to_unit_float(pixels: np.ndarray) -> np.ndarray:
    if not isinstance(pixels, np.ndarray) or pixels.size == 0:
        raise InputError("image is empty; pass a non-empty (H, W[, C]) array or an image file")
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / 255.0
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) / 65535.0
    if np.issubdtype(pixels.dtype, np.floating) or pixels.dtype == np.bool_:
        if pixels.dtype != np.bool_ and not np.isfinite(pixels).all():
            raise InputError("image array contains NaN or Inf; pass finite values in 0..1")
        # Clip before narrowing: a finite float64 beyond float32's range would become Inf.
        return np.clip(pixels, 0.0, 1.0).astype(np.float32)
    raise InputError(f"image array dtype {pixels.dtype} is not supported; use uint8, uint16 or float 0..1")
