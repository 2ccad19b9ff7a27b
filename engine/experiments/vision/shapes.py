"""A dataset that needs no download: small colour images of ten kinds of shape, drawn with Pillow."""

from __future__ import annotations

import numpy as np

SHAPES = ("circle", "square", "triangle", "cross", "ring", "hstripes", "vstripes", "diagonal", "dots", "checker")


def _draw(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageDraw

    bg = tuple(int(v) for v in rng.integers(0, 256, 3))
    fg = tuple(int(v) for v in (np.array(bg) + rng.integers(80, 176, 3)) % 256)
    im = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(im)
    r = rng.uniform(0.22, 0.4) * size
    cx, cy = rng.uniform(r, size - r, 2)
    box = (cx - r, cy - r, cx + r, cy + r)
    step = int(rng.integers(3, 6))
    if kind == "circle":
        d.ellipse(box, fill=fg)
    elif kind == "square":
        d.rectangle(box, fill=fg)
    elif kind == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    elif kind == "cross":
        w = r / 3
        d.rectangle((cx - r, cy - w, cx + r, cy + w), fill=fg)
        d.rectangle((cx - w, cy - r, cx + w, cy + r), fill=fg)
    elif kind == "ring":
        d.ellipse(box, outline=fg, width=max(2, int(r / 3)))
    elif kind == "hstripes":
        for y in range(0, size, 2 * step):
            d.rectangle((0, y, size, y + step - 1), fill=fg)
    elif kind == "vstripes":
        for x in range(0, size, 2 * step):
            d.rectangle((x, 0, x + step - 1, size), fill=fg)
    elif kind == "diagonal":
        for k in range(-size, size, 2 * step):
            d.line((k, 0, k + size, size), fill=fg, width=step)
    elif kind == "dots":
        for y in range(step, size, 2 * step):
            for x in range(step, size, 2 * step):
                d.ellipse((x - step / 2, y - step / 2, x + step / 2, y + step / 2), fill=fg)
    else:  # checker
        for y in range(0, size, step):
            for x in range(0, size, step):
                if (x // step + y // step) % 2:
                    d.rectangle((x, y, x + step - 1, y + step - 1), fill=fg)
    a = np.asarray(im, dtype=np.int16)
    noise = rng.normal(0, 12, a.shape)
    return np.clip(a + noise, 0, 255).astype(np.uint8)


def generate(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images (N,H,W,3 uint8) with balanced labels, the same for the same seed."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(SHAPES)
    rng.shuffle(labels)
    images = np.stack([_draw(SHAPES[k], size, rng) for k in labels])
    return images, labels.astype(np.int64)
