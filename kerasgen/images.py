"""Image grids, animated GIFs and loss plots, written with Pillow and matplotlib (no pyplot, so a
user's interactive matplotlib backend is never touched)."""

import math
import os

import numpy as np
from PIL import Image

from kerasgen.checks import IMAGE_SUFFIXES
from kerasgen.checks import check_int
from kerasgen.checks import check_output_file
from kerasgen.files import atomic_path


def to_uint8(images):
    """Float images in [0, 1] (or uint8) -> uint8, shape (n, h, w, 3)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"Expected images of shape (n, h, w, 3); received {images.shape}.")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images


def make_grid(images, nrow=None, padding=2, pad_value=255):
    """Tiles images into one uint8 array, `nrow` images per row (default: a square grid)."""
    images = to_uint8(images)
    n, h, w, c = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol_rows = math.ceil(n / nrow)
    grid = np.full(
        (ncol_rows * (h + padding) + padding, nrow * (w + padding) + padding, c),
        pad_value,
        dtype=np.uint8,
    )
    for i, image in enumerate(images):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = image
    return grid


def save_image_grid(images, path, nrow=None, padding=2, scale=1):
    """Writes `images` ([0, 1] floats or uint8) as one image grid (the format from the suffix:
    .png, .jpg, ...), atomically; `scale` enlarges it (nearest neighbour)."""
    check_output_file(path, "path", IMAGE_SUFFIXES)
    scale = check_int(scale, "scale", minimum=1, maximum=64)
    grid = Image.fromarray(make_grid(images, nrow=nrow, padding=padding))
    if scale != 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    with atomic_path(path) as temporary:
        grid.save(temporary)
    return path


def save_gif(frame_paths, path, duration_ms=400):
    """Writes the PNGs in `frame_paths`, in order, as an animated GIF that loops forever."""
    frames = [Image.open(p).convert("RGB") for p in frame_paths]
    if not frames:
        raise ValueError("save_gif needs at least one frame.")
    with atomic_path(path) as temporary:
        frames[0].save(
            temporary, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0
        )
    return path


def save_loss_plot(steps, series, path, title=None):
    """Plots each `series[name]` (a list of floats, one per entry of `steps`) against `steps`.

    Losses and scores go on two panels when both are present (names ending in `_loss` vs the
    rest), as the seeds plot them.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    losses = {k: v for k, v in series.items() if k.endswith("loss")}
    others = {k: v for k, v in series.items() if not k.endswith("loss")}
    panels = [p for p in (losses, others) if p]
    fig = Figure(figsize=(7, 3 * len(panels)), dpi=100)
    FigureCanvasAgg(fig)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, i + 1)
        for name, values in panel.items():
            ax.plot(steps[: len(values)], values, label=name, linewidth=1)
        ax.set_xlabel("training step")
        ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as temporary:
        fig.savefig(temporary)
    return path
