"""Figures for the book: learning curves, images and patches, learned weights, comparisons.

Every function takes NumPy arrays (or anything ``np.asarray`` accepts, such as Keras
tensors or weights from ``layer.get_weights()``) and returns a matplotlib ``Figure``;
none of them calls ``plt.show()``, so they work under any backend, ``Agg`` included. In a
notebook the inline backend shows each new figure when the cell ends: assign the result
(``fig = plot_history(...)``) or end the line with ``;`` so it is not shown twice.

Colors are the same on every page: training is always ``PALETTE["train"]``, validation
``PALETTE["validation"]``, and each model keeps one color across chapters
(``MODEL_COLORS``). Weight maps use a diverging colormap centered at zero, so red is
positive and blue negative everywhere.
"""

import math
import re
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, NullLocator, ScalarFormatter
from PIL import Image

PALETTE = {
    "train": "#1f77b4",
    "validation": "#ff7f0e",
    "bars": "#4c72b0",
    "reference": "#7f7f7f",
    "grid_lines": "white",
    "marker": "black",
}
MODEL_COLORS = {
    "mixer": "#2ca02c",
    "fnet": "#9467bd",
    "gmlp": "#d62728",
    "attention": "#8c564b",
}
OTHER_COLORS = ("#17becf", "#bcbd22", "#e377c2", "#7f7f7f", "#1f77b4", "#ff7f0e")
DIVERGING_CMAP = "RdBu_r"
MAGNITUDE_CMAP = "magma"

# Runs this short get a marker on every epoch, so single epochs stay visible.
_MARKER_MAX_POINTS = 30
_HISTORY_PANELS = (
    ("loss", "Loss", 1.0),
    ("top1", "Top-1 accuracy (%)", 100.0),
    ("top5", "Top-5 accuracy (%)", 100.0),
)
_METRIC_LABELS = {
    "loss": ("Loss", 1.0),
    "top1": ("top-1 accuracy (%)", 100.0),
    "top5": ("top-5 accuracy (%)", 100.0),
    "learning_rate": ("learning rate", 1.0),
}


def plot_history(history, title=None):
    """Learning curves of one run: loss, top-1 and top-5 accuracy, train vs validation.

    Args:
        history: dict with one value per epoch for ``loss``, ``top1`` and ``top5`` and,
            when the run validated, ``val_loss``, ``val_top1`` and ``val_top5`` (the
            ``history`` of a :class:`mlp_tutorial.Result`). Accuracies are fractions in
            [0, 1]; they are drawn in percent.
        title: figure title.

    Returns:
        A ``Figure`` with three axes side by side (loss, top-1, top-5), each with a
        training line and, where present, a validation line; x is the epoch, from 1.
    """
    missing = [key for key, _, _ in _HISTORY_PANELS if key not in history]
    if missing:
        raise ValueError(
            f"`history` needs the keys {missing} (one value per epoch); got keys {sorted(history)}."
        )
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
    for ax, (key, ylabel, scale) in zip(axes, _HISTORY_PANELS, strict=True):
        for name, split_key in (("train", key), ("validation", f"val_{key}")):
            if split_key in history:
                values = scale * np.asarray(history[split_key], dtype=float).ravel()
                epochs = np.arange(1, len(values) + 1)
                ax.plot(
                    epochs,
                    values,
                    color=PALETTE[name],
                    label=name,
                    marker="o" if len(values) <= _MARKER_MAX_POINTS else None,
                    markersize=3.5,
                )
        ax.set_xlabel("Epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _tidy(ax)
    axes[0].legend(frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_histories(histories, metric="val_top1", title=None):
    """Overlay one metric from several runs: one line per model, for comparisons.

    Args:
        histories: dict ``{model name: history}``; each history maps metric names to one
            value per epoch (as in :func:`plot_history`). Models named like ``"mixer"``,
            ``"MLP-Mixer"``, ``"fnet"`` or ``"gMLP"`` get their book-wide color.
        metric: the history key to draw, e.g. ``"val_top1"``, ``"loss"``,
            ``"learning_rate"``. Accuracies are drawn in percent.
        title: axes title; by default the metric's name.

    Returns:
        A ``Figure`` with one axes and one labeled line per model.
    """
    if not histories:
        raise ValueError("`histories` is empty; pass a dict {model name: history}.")
    base = metric.removeprefix("val_")
    split = "Validation" if metric.startswith("val_") else "Training"
    label, scale = _METRIC_LABELS.get(base, (base.replace("_", " "), 1.0))
    ylabel = f"{split} {label}"
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    for index, (name, history) in enumerate(histories.items()):
        if metric not in history:
            raise ValueError(
                f"History of {name!r} has no {metric!r}; it has {sorted(history)}. "
                "Choose `metric` from those keys."
            )
        values = scale * np.asarray(history[metric], dtype=float).ravel()
        ax.plot(
            np.arange(1, len(values) + 1),
            values,
            label=name,
            color=_model_color(name, index),
            marker="o" if len(values) <= _MARKER_MAX_POINTS else None,
            markersize=3.5,
        )
    ax.set_xlabel("Epoch")
    ax.set_ylabel(ylabel[0].upper() + ylabel[1:])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title or ylabel[0].upper() + ylabel[1:])
    ax.legend(frameon=False)
    _tidy(ax)
    return fig


def plot_image_grid(images, labels, class_names, ncols=8, title=None):
    """Show images in a grid, each captioned with its class name.

    Args:
        images: ``(N, H, W, 3)`` uint8 RGB images (a grayscale image stored as three equal
            channels shows as gray), or ``(N, H, W)`` / ``(N, H, W, 1)`` grayscale.
        labels: ``(N,)`` or ``(N, 1)`` integer class ids.
        class_names: sequence mapping a class id to its name.
        ncols: images per row.
        title: figure title.

    Returns:
        A ``Figure`` with ``ceil(N / ncols) * ncols`` axes: one per image, titled with its
        class name, and the unused ones at the end hidden.
    """
    images = _as_images(np.asarray(images), "images", batched=True)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(
            f"`labels` must have one entry per image; got {len(labels)} labels "
            f"for {len(images)} images."
        )
    return _image_grid(images, [str(class_names[int(label)]) for label in labels], ncols, title)


def plot_mixed_images(images, labels, class_names, ncols=8, title=None):
    """Show MixUp/CutMix images, each captioned with the classes its soft label mixes.

    Args:
        images: ``(N, H, W, 3)`` images with values in 0-255 (float or uint8).
        labels: ``(N, K)`` soft labels: each row's weights over the ``K`` classes.
        class_names: sequence mapping a class id to its name.
        ncols: images per row.
        title: figure title.

    Returns:
        A ``Figure`` like :func:`plot_image_grid`'s; each caption lists the (at most two)
        classes with a weight above 0.5%, largest first, as ``0.62 cat``.
    """
    images = _as_images(np.asarray(images), "images", batched=True)
    labels = np.asarray(labels, dtype=float)
    if labels.ndim != 2 or len(labels) != len(images):
        raise ValueError(
            f"`labels` must be (N, K) soft labels, one row per image; got shape "
            f"{labels.shape} for {len(images)} images."
        )
    captions = []
    for row in labels:
        top = [k for k in np.argsort(-row)[:2] if row[k] > 0.005]
        captions.append("\n".join(f"{row[k]:.2f} {class_names[int(k)]}" for k in top))
    return _image_grid(images, captions, ncols, title, caption_lines=2)


def _image_grid(images, captions, ncols, title, caption_lines=1):
    """Images in a grid of ``ncols`` columns, each titled with its caption."""
    _check_positive("ncols", ncols)
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    row_height = 1.15 + 0.15 * caption_lines
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(1.15 * ncols, row_height * nrows + 0.3),
        layout="constrained",
        squeeze=False,
    )
    for index, ax in enumerate(axes.flat):
        if index >= len(images):
            ax.set_visible(False)
            continue
        ax.imshow(images[index], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(captions[index], fontsize=7, pad=2)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def plot_class_balance(labels, class_names, title=None):
    """Bar chart of how many images each class has.

    Args:
        labels: integer class ids, any shape (``(N,)`` or ``(N, 1)``).
        class_names: sequence of ``K`` class names; classes with no image get a zero bar.
        title: axes title; by default "Images per class".

    Returns:
        A ``Figure`` with one axes of ``K`` bars and a dashed line at the mean count. With
        at most 20 classes every bar is labeled with its name; with more, the x axis shows
        class ids.
    """
    labels = np.asarray(labels).reshape(-1).astype(int)
    num_classes = len(class_names)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"`labels` must be class ids in [0, {num_classes}) to match `class_names`; "
            f"got values from {labels.min()} to {labels.max()}."
        )
    counts = np.bincount(labels, minlength=num_classes)
    few = num_classes <= 20
    fig, ax = plt.subplots(
        figsize=(max(4.5, 0.45 * num_classes) if few else 9, 3.2), layout="constrained"
    )
    ax.bar(np.arange(num_classes), counts, width=0.8, color=PALETTE["bars"])
    ax.axhline(
        counts.mean(),
        color=PALETTE["reference"],
        linestyle="--",
        linewidth=1,
        label=f"mean {counts.mean():.1f}",
    )
    if few:
        ax.set_xticks(np.arange(num_classes), [str(name) for name in class_names])
        ax.tick_params(axis="x", labelrotation=45)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
            tick.set_rotation_mode("anchor")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
        ax.set_xlabel("Class id")
    ax.set_xlim(-0.6, num_classes - 0.4)
    ax.set_ylabel("Images")
    ax.set_title(title or f"Images per class ({len(labels):,} images, {num_classes} classes)")
    # Outside the axes, to the right: inside, it would cover the bars of the last classes.
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _tidy(ax)
    return fig


def plot_patch_grid(image, patch_size, image_size=None, interpolation="bilinear", title=None):
    """Draw the patch boundaries on an image and number each patch in reading order.

    Args:
        image: ``(H, W, 3)`` uint8 image, or ``(H, W)`` / ``(H, W, 1)`` grayscale.
        patch_size: side ``p`` of the square patches, in pixels of the (resized) image.
        image_size: resize to ``image_size x image_size`` (or an ``(height, width)`` pair)
            first, as the models do; ``None`` keeps the image as it is.
        interpolation: ``"bilinear"`` (what the models' resizing layer uses) or
            ``"nearest"`` (shows the original pixels as blocks).
        title: axes title; by default the image size and the patch count.

    Returns:
        A ``Figure`` with one axes: the image, ``H/p - 1`` horizontal and ``W/p - 1``
        vertical boundary lines, and one text label per patch, ``0 .. P-1`` row by row.
    """
    image = _as_images(np.asarray(image), "image", batched=False)
    _check_positive("patch_size", patch_size)
    if image_size is not None:
        image = _resize(image, image_size, interpolation)
    height, width = image.shape[:2]
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"The image is {height}x{width}, which `patch_size`={patch_size} does not divide; "
            "choose a patch_size that divides both sides (or set `image_size`)."
        )
    rows, cols = height // patch_size, width // patch_size
    fig, ax = plt.subplots(figsize=(5, 5 * height / width + 0.4), layout="constrained")
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    # imshow puts pixel centers on integers, so pixel edges sit at half-integers.
    for row in range(1, rows):
        ax.axhline(row * patch_size - 0.5, color=PALETTE["grid_lines"], linewidth=1)
    for col in range(1, cols):
        ax.axvline(col * patch_size - 0.5, color=PALETTE["grid_lines"], linewidth=1)
    fontsize = float(np.clip(100 / max(rows, cols), 4, 11))
    outline = [patheffects.withStroke(linewidth=1.5, foreground="black")]
    for index in range(rows * cols):
        row, col = divmod(index, cols)
        ax.text(
            (col + 0.5) * patch_size - 0.5,
            (row + 0.5) * patch_size - 0.5,
            str(index),
            ha="center",
            va="center",
            color="white",
            fontsize=fontsize,
            path_effects=outline,
        )
    ax.set_axis_off()
    ax.set_title(
        title
        or f"{height}×{width} image → {rows}×{cols} = {rows * cols} patches of "
        f"{patch_size}×{patch_size}"
    )
    return fig


def plot_patch_sequence(patches, patch_size, channels=3, max_patches=None, ncols=16, title=None):
    """Show a patch sequence as a row-wrapped strip of tiles: the sequence the model sees.

    Args:
        patches: ``(P, p * p * C)`` flattened patches of one image, each flattened in
            (row, column, channel) order: the output of :class:`mlp_tutorial.Patches` for
            one image. uint8 values are shown as they are; floats are rescaled together
            (one min and max for the whole sequence) to [0, 1].
        patch_size: the patch side ``p``.
        channels: channels ``C`` per pixel (3 for RGB, 1 for grayscale).
        max_patches: show only the first ``max_patches`` patches.
        ncols: tiles per row before wrapping.
        title: axes title; by default the sequence's length and patch shape.

    Returns:
        A ``Figure`` with one axes holding one image per tile, in sequence order (tile
        ``k`` is ``ax.images[k]``), each labeled with its index above it.
    """
    patches = np.asarray(patches)
    _check_positive("patch_size", patch_size)
    _check_positive("channels", channels)
    expected = patch_size * patch_size * channels
    if patches.ndim != 2 or patches.shape[1] != expected:
        raise ValueError(
            f"`patches` must have shape (P, patch_size * patch_size * channels) = (P, {expected}); "
            f"got {patches.shape}. Pass one image's patches, and check patch_size and channels."
        )
    _check_positive("ncols", ncols)
    total = len(patches)
    if max_patches is not None:
        _check_positive("max_patches", max_patches)
        patches = patches[:max_patches]
    tiles = _display_range(patches).reshape(-1, patch_size, patch_size, channels)
    if channels == 1:
        tiles = tiles[..., 0]
    ncols = min(ncols, len(tiles))
    nrows = math.ceil(len(tiles) / ncols)
    gap, label_height = 0.2, 0.5
    fig, ax = plt.subplots(
        figsize=(0.5 * ncols * (1 + gap) + 0.4, 0.5 * nrows * (1 + label_height) + 0.6),
        layout="constrained",
    )
    vmax = 255 if tiles.dtype == np.uint8 else 1.0
    for index, tile in enumerate(tiles):
        row, col = divmod(index, ncols)
        left, top = col * (1 + gap), row * (1 + label_height) + label_height
        ax.imshow(
            tile,
            extent=(left, left + 1, top + 1, top),
            cmap="gray",
            vmin=0,
            vmax=vmax,
            interpolation="nearest",
        )
        ax.text(left + 0.5, top - 0.05, str(index), ha="center", va="bottom", fontsize=6)
    ax.set_xlim(-gap / 2, ncols * (1 + gap) - gap / 2)
    ax.set_ylim(nrows * (1 + label_height) + 0.05, 0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    shown = f"first {len(tiles)} of {total}" if len(tiles) < total else f"{total}"
    ax.set_title(
        title
        or f"The sequence the model sees: {shown} patches, each "
        f"{patch_size}×{patch_size}×{channels} = {expected} numbers"
    )
    return fig


def plot_token_mixing_maps(weights, grid_shape, ncols=8, max_maps=16, title=None):
    """Show each hidden unit of a token-mixing layer as a map over the patch grid.

    Mixer's first token-mixing kernel ``W1`` has shape ``(P, D_S)``: column ``s`` holds
    the weight hidden unit ``s`` gives each of the ``P`` patches, so reshaped to the patch
    grid it shows *where* in the image that unit looks (Tolstikhin et al., 2021, Fig. 5).

    Args:
        weights: ``(P, K)`` array; column ``k`` is one map over the ``P`` patches.
        grid_shape: ``(rows, cols)`` of the patch grid, with ``rows * cols == P``.
        ncols: maps per row.
        max_maps: draw the first ``max_maps`` columns only.
        title: figure title.

    Returns:
        A ``Figure`` with one axes per map (unused grid cells hidden); each map uses a
        diverging colormap with limits ``±max|map|``, so white is zero.
    """
    weights = np.asarray(weights, dtype=float)
    rows, cols = _check_grid(weights, grid_shape, "weights", axis=0)
    _check_positive("ncols", ncols)
    _check_positive("max_maps", max_maps)
    maps = weights[:, :max_maps].T.reshape(-1, rows, cols)
    ncols = min(ncols, len(maps))
    nrows = math.ceil(len(maps) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.2 * ncols, 1.3 * nrows + 0.5), layout="constrained", squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        if index >= len(maps):
            ax.set_visible(False)
            continue
        limit = _symmetric_limit(maps[index])
        ax.imshow(maps[index], cmap=DIVERGING_CMAP, vmin=-limit, vmax=limit)
        ax.set_title(f"unit {index}", fontsize=7, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        title
        or f"Token-mixing weights: {len(maps)} of {weights.shape[1]} hidden units "
        f"over the {rows}×{cols} patch grid (red +, blue −)"
    )
    return fig


def plot_spatial_projection(kernel, grid_shape, patch_indices=None, show_matrix=True, title=None):
    """Show which input patches a gMLP spatial gating unit lets each output patch see.

    Args:
        kernel: the SGU's spatial weight ``W``, shape ``(P, P)``; ``W[i, j]`` is the
            weight from input patch ``j`` to output patch ``i``.
        grid_shape: ``(rows, cols)`` of the patch grid, with ``rows * cols == P``.
        patch_indices: output patches ``i`` whose row ``W[i]`` to draw as a map over the
            grid; by default four spread out: top-left corner, middle of the top edge,
            center, bottom-right corner.
        show_matrix: also draw the whole ``P x P`` matrix as the first panel.
        title: figure title.

    Returns:
        A ``Figure`` whose panels (the matrix first, if shown, then one per output patch,
        titled ``"output patch i"``) share one diverging color scale, ``±max|W|``, and one
        colorbar. Each map marks its output patch with a black box.
    """
    kernel = np.asarray(kernel, dtype=float)
    rows, cols = _check_grid(kernel, grid_shape, "kernel", axis=0)
    if kernel.shape != (rows * cols, rows * cols):
        raise ValueError(
            f"`kernel` must be a square (P, P) matrix with P = {rows * cols}; got {kernel.shape}."
        )
    num_patches = rows * cols
    if patch_indices is None:
        corners = [(0, 0), (0, cols // 2), (rows // 2, cols // 2), (rows - 1, cols - 1)]
        patch_indices = list(dict.fromkeys(r * cols + c for r, c in corners))
    patch_indices = [int(i) for i in patch_indices]
    bad = [i for i in patch_indices if not 0 <= i < num_patches]
    if bad or not patch_indices:
        raise ValueError(
            f"`patch_indices` must be a non-empty list of patch ids in [0, {num_patches}); "
            f"got {patch_indices}."
        )
    limit = _symmetric_limit(kernel)
    npanels = len(patch_indices) + int(show_matrix)
    fig, axes = plt.subplots(
        1, npanels, figsize=(2.6 * npanels + 0.8, 3.5), layout="constrained", squeeze=False
    )
    axes = list(axes.flat)
    style = {"cmap": DIVERGING_CMAP, "vmin": -limit, "vmax": limit}
    if show_matrix:
        ax = axes.pop(0)
        image = ax.imshow(kernel, interpolation="nearest", **style)
        ax.set_title(f"W ({num_patches}×{num_patches})", fontsize=9)
        ax.set_xlabel("input patch j")
        ax.set_ylabel("output patch i")
    for ax, index in zip(axes, patch_indices, strict=True):
        image = ax.imshow(kernel[index].reshape(rows, cols), interpolation="nearest", **style)
        row, col = divmod(index, cols)
        ax.add_patch(
            Rectangle(
                (col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=PALETTE["marker"], linewidth=1.5
            )
        )
        ax.set_title(f"output patch {index}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=fig.axes, shrink=0.85, label="weight")
    fig.suptitle(title or "Spatial projection W: the input patches each output patch sees")
    return fig


def plot_spectrum(x, title=None):
    """What FNet's token mixing does to one sequence: input, |FFT2| and Re(FFT2).

    Args:
        x: one sequence, ``(P, C)`` real values (e.g. the patch embeddings of one image).
        title: figure title.

    Returns:
        A ``Figure`` with three panels, each with its colorbar: ``x`` itself; the magnitude
        ``|FFT2(x)|`` on a log color scale, shifted so frequency zero is in the middle (axes
        in frequency units); and ``Re(FFT2(x))`` unshifted, the ``(P, C)`` table FNet adds
        back to its input.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"`x` must be one sequence of shape (P, C); got shape {x.shape}.")
    spectrum = np.fft.fft2(x)
    magnitude = np.fft.fftshift(np.abs(spectrum))
    num_patches, channels = x.shape
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
    aspect = "equal" if 0.5 <= num_patches / channels <= 2 else "auto"

    for ax, values, panel_title in (
        (axes[0], x, "input x\n(patches × channels)"),
        (axes[2], spectrum.real, "Re(FFT2(x))\nwhat FNet keeps"),
    ):
        limit = _symmetric_limit(values)
        image = ax.imshow(
            values,
            cmap=DIVERGING_CMAP,
            vmin=-limit,
            vmax=limit,
            aspect=aspect,
            interpolation="nearest",
        )
        fig.colorbar(image, ax=ax, shrink=0.85)
        ax.set_title(panel_title)
        ax.set_xlabel("channel")
        ax.set_ylabel("patch")

    freq_p = np.fft.fftshift(np.fft.fftfreq(num_patches, 1 / num_patches))
    freq_c = np.fft.fftshift(np.fft.fftfreq(channels, 1 / channels))
    positive = magnitude[magnitude > 0]
    vmax = positive.max() if positive.size else 1.0
    # A magnitude of exactly zero has no logarithm; floor the color scale far below the peak.
    vmin = max(positive.min() if positive.size else vmax, vmax * 1e-6)
    cmap = plt.get_cmap(MAGNITUDE_CMAP).with_extremes(bad="black", under="black")
    image = axes[1].imshow(
        magnitude,
        cmap=cmap,
        norm=LogNorm(vmin=vmin, vmax=vmax),
        aspect=aspect,
        interpolation="nearest",
        extent=(freq_c[0] - 0.5, freq_c[-1] + 0.5, freq_p[-1] + 0.5, freq_p[0] - 0.5),
    )
    fig.colorbar(image, ax=axes[1], shrink=0.85)
    axes[1].set_title("|FFT2(x)|, log scale\nzero frequency at the centre")
    axes[1].set_xlabel("channel frequency")
    axes[1].set_ylabel("sequence frequency")
    if title:
        fig.suptitle(title)
    return fig


def plot_scaling(num_patches, seconds, labels=None, fits=None, title=None):
    """Log-log plot of time per image against sequence length, with fitted slopes.

    A cost that grows as ``P**k`` is a straight line of slope ``k`` on log-log axes:
    about 1 for Mixer's token mixing at a fixed hidden width, a little above 1
    (``P log P``) for FNet, and approaching 2 for gMLP's ``P x P`` spatial matrix and
    self-attention's ``P x P`` score matrix once those terms dominate.

    Args:
        num_patches: ``(N,)`` sequence lengths ``P`` that were timed.
        seconds: time per image, one ``(N,)`` sequence per block: either a dict
            ``{label: seconds}``, or a sequence of them aligned with ``labels``.
        labels: which curves to draw, in order. Required when ``seconds`` is not a dict;
            with a dict, ``None`` draws every entry.
        fits: optional dict ``{label: (slope, intercept)}`` of precomputed fits of
            ``log10(seconds) = slope * log10(P) + intercept``; by default each line is fit
            by least squares on the logs with NumPy.
        title: axes title.

    Returns:
        A ``Figure`` with one log-log axes: the measured points, and the fitted line of
        each block, dashed, in the same color; the legend gives each slope as
        ``"label (slope 1.98)"``.
    """
    num_patches = np.asarray(num_patches, dtype=float).ravel()
    if isinstance(seconds, Mapping):
        labels = list(seconds) if labels is None else list(labels)
        unknown = [label for label in labels if label not in seconds]
        if unknown:
            raise ValueError(f"`labels` {unknown} are not keys of `seconds` ({list(seconds)}).")
        series = [seconds[label] for label in labels]
    else:
        if labels is None or len(labels) != len(seconds):
            raise ValueError(
                "When `seconds` is not a dict, `labels` must name each of its rows; got "
                f"{len(seconds)} rows and labels={labels!r}."
            )
        labels, series = list(labels), list(seconds)
    if len(num_patches) < 2:
        raise ValueError(f"`num_patches` needs at least two lengths to fit; got {num_patches}.")
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    log_n = np.log10(num_patches)
    for index, (label, times) in enumerate(zip(labels, series, strict=True)):
        times = np.asarray(times, dtype=float).ravel()
        if times.shape != num_patches.shape or np.any(times <= 0):
            raise ValueError(
                f"`seconds[{label!r}]` must hold {len(num_patches)} positive times, one per "
                f"entry of `num_patches`; got {times}."
            )
        if fits is not None and label in fits:
            slope, intercept = fits[label]
        else:
            slope, intercept = np.polyfit(log_n, np.log10(times), deg=1)
        color = _model_color(label, index)
        ax.plot(num_patches, times, "o", color=color, label=f"{label} (slope {slope:.2f})")
        ax.plot(num_patches, 10 ** (slope * log_n + intercept), "--", color=color, linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(num_patches)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("Patches per image P")
    ax.set_ylabel("Seconds per image")
    ax.set_title(title or "How the cost grows with the number of patches")
    ax.legend(frameon=False)
    _tidy(ax)
    return fig


def plot_lr_schedule(steps, values, title=None, xlabel="Training step"):
    """The learning rate over training, as one line.

    Args:
        steps: ``(N,)`` steps (or epochs; say which with ``xlabel``).
        values: ``(N,)`` learning rates.
        title: axes title; by default "Learning-rate schedule".
        xlabel: x-axis label.

    Returns:
        A ``Figure`` with one axes and one line.
    """
    steps = np.asarray(steps, dtype=float).ravel()
    values = np.asarray(values, dtype=float).ravel()
    if steps.shape != values.shape:
        raise ValueError(
            f"`steps` and `values` must have the same length; got {len(steps)} and {len(values)}."
        )
    fig, ax = plt.subplots(figsize=(6.0, 3.2), layout="constrained")
    ax.plot(steps, values, color=PALETTE["train"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Learning rate")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Learning-rate schedule")
    _tidy(ax)
    return fig


def _tidy(ax):
    """Drop the top and right spines and add a faint horizontal grid."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3, linewidth=0.6)
    ax.set_axisbelow(True)


def _model_color(name, index):
    """The book-wide color of a model named like ``name``, else a color by position."""
    key = re.sub(r"[^a-z]", "", str(name).lower())
    for model, color in MODEL_COLORS.items():
        if model in key:
            return color
    return OTHER_COLORS[index % len(OTHER_COLORS)]


def _symmetric_limit(values):
    """``max|values|``, or 1 for an all-zero array, for a color scale centered at zero."""
    limit = float(np.max(np.abs(values))) if np.size(values) else 0.0
    return limit if limit > 0 else 1.0


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")


def _check_grid(array, grid_shape, name, axis):
    """Return ``(rows, cols)`` if ``array`` is 2-D with ``rows * cols`` entries on ``axis``."""
    rows, cols = (int(n) for n in grid_shape)
    if array.ndim != 2 or array.shape[axis] != rows * cols:
        raise ValueError(
            f"`{name}` must be 2-D with {rows} * {cols} = {rows * cols} patches on axis {axis} "
            f"to match `grid_shape`={tuple(grid_shape)}; got shape {array.shape}."
        )
    return rows, cols


def _as_images(images, name, batched):
    """Check an image (batch) is uint8-range RGB or grayscale; drop a single channel axis."""
    rank = 4 if batched else 3
    if images.ndim == rank and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (rank - 1, rank) or (images.ndim == rank and images.shape[-1] != 3):
        shape = "(N, H, W, 3) or (N, H, W)" if batched else "(H, W, 3) or (H, W)"
        raise ValueError(f"`{name}` must have shape {shape}; got {images.shape}.")
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return images


def _resize(image, image_size, interpolation):
    """Resize a uint8 image with PIL: ``image_size`` is a side or ``(height, width)``."""
    methods = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}
    if interpolation not in methods:
        raise ValueError(
            f"`interpolation` must be one of {sorted(methods)}; got {interpolation!r}."
        )
    height, width = (image_size, image_size) if np.isscalar(image_size) else image_size
    resized = Image.fromarray(image).resize((int(width), int(height)), methods[interpolation])
    return np.asarray(resized)


def _display_range(patches):
    """uint8 patches unchanged; anything else rescaled with one min and max to [0, 1]."""
    if patches.dtype == np.uint8:
        return patches
    patches = patches.astype(float)
    low, high = patches.min(), patches.max()
    if high == low:
        return np.zeros_like(patches)
    return (patches - low) / (high - low)
