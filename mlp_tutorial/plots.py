"""Figures for the book: learning curves, images and patches, learned weights, comparisons.

Every function takes NumPy arrays (or what ``np.asarray`` accepts) and returns a matplotlib
``Figure`` drawn with ``pyplot``, so a notebook's inline backend shows it when the cell ends;
none calls ``plt.show()`` (elsewhere, use ``fig.savefig``). Figures are at most 7.5 inches
wide: the book's text column at 1280 px is about 690 px, so a 100-dpi figure keeps its
labels near their full size. ``title`` is the figure's title, or the axes' when there is
one axes; where a function gives it a default, its docstring says which.

Each model keeps one color on every page (``MODEL_COLORS``); weight maps use a diverging
colormap centered at zero (red positive, blue negative).
"""

import re

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.colors import CenteredNorm, LogNorm
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from PIL import Image

from mlp_tutorial.checks import check_positive_int

#: One color per model on every page: entries of matplotlib's default color cycle.
MODEL_COLORS = {"mixer": "C2", "fnet": "C4", "gmlp": "C3", "attention": "C5"}
DIVERGING_CMAP = "RdBu_r"
_ACCURACIES = {"top1": "top-1 accuracy (%)", "top5": "top-5 accuracy (%)"}


def plot_history(history, title=None):
    """Learning curves of one run: loss, top-1 and top-5 accuracy, train vs validation.

    ``history`` (a :class:`mlp_tutorial.Result`'s) has one value per epoch for ``loss``,
    ``top1``, ``top5`` and, when the run validated, ``val_loss``, ``val_top1``, ``val_top5``;
    accuracies are fractions in [0, 1], drawn in percent. Returns a ``Figure`` with three
    axes (loss, top-1, top-5), each with a line labeled ``train`` and, where present, one
    labeled ``validation``; x is the epoch, from 1.

    >>> fig = plot_history({"loss": [2.0, 1.5], "top1": [0.2, 0.4], "top5": [0.5, 0.7]})
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['Loss', 'Top-1 accuracy (%)', 'Top-5 accuracy (%)']
    >>> plt.close(fig)
    """
    ylabels = {"loss": "Loss", "top1": "Top-1 accuracy (%)", "top5": "Top-5 accuracy (%)"}
    if missing := [key for key in ylabels if key not in history]:
        problem = f"needs the keys {missing} (one value per epoch); got keys {sorted(history)}"
        raise ValueError(f"`history` {problem}.")
    fig, axes = plt.subplots(1, 3, figsize=(7.4, 2.8), layout="constrained")
    for ax, (key, ylabel) in zip(axes, ylabels.items(), strict=True):
        for split, name in (("train", key), ("validation", f"val_{key}")):
            if name in history:
                _draw_epochs(ax, history[name], name, label=split)
        ax.set_ylabel(ylabel)
    axes[0].legend(frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_histories(histories, metric="val_top1", title=None):
    """Overlay one metric from several runs: one line per run, for comparisons.

    ``histories``: ``{run name: history}``, each as in :func:`plot_history`; a run named like
    a model (``"mixer"``, ``"MLP-Mixer"``) gets its color. ``metric``: the history key to
    draw, e.g. ``"val_top1"``, ``"loss"`` (accuracies in percent). Returns a ``Figure`` with
    one axes, titled by default with the y label, and one line per run, labeled with its name.
    """
    if not histories:
        raise ValueError("`histories` is empty; pass a dict {run name: history}.")
    base = metric.removeprefix("val_")
    split = "Validation" if metric.startswith("val_") else "Training"
    ylabel = f"{split} {_ACCURACIES.get(base, base.replace('_', ' '))}"
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    for index, (name, history) in enumerate(histories.items()):
        if metric not in history:
            problem = f"is not in the history of {name!r}; choose one of {sorted(history)}"
            raise ValueError(f"`metric`={metric!r} {problem}.")
        _draw_epochs(ax, history[metric], metric, label=name, color=_model_color(name, index))
    ax.set(ylabel=ylabel, title=title or ylabel)
    ax.legend(frameon=False)
    return fig


def _draw_epochs(ax, values, metric, **style):
    """Plot one value per epoch against epochs 1..N; accuracies in percent."""
    values = np.asarray(values, dtype=float).ravel()
    if metric.removeprefix("val_") in _ACCURACIES:
        values = 100 * values
    marker = "o" if len(values) <= 30 else None  # so that a run of one epoch still shows
    ax.plot(np.arange(1, len(values) + 1), values, marker=marker, markersize=3.5, **style)
    ax.set_xlabel("Epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def plot_image_grid(images, labels, class_names, ncols=8, title=None):
    """Show images in rows of ``ncols``, one axes each, titled with its class name.

    ``images``: ``(N, H, W, 3)``, ``(N, H, W, 1)`` or ``(N, H, W)``, values 0-255;
    ``labels``: ``(N,)`` or ``(N, 1)`` class ids; ``class_names`` maps an id to its name.
    """
    images = _as_images(images, "images", batched=True)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        problem = f"got {len(labels)} labels for {len(images)} images"
        raise ValueError(f"`labels` must have one entry per image; {problem}.")
    return _image_grid(images, [str(class_names[int(label)]) for label in labels], ncols, title)


def plot_mixed_images(images, labels, class_names, ncols=4, title=None):
    """Show MixUp/CutMix images, each titled with the classes its soft label mixes.

    ``images``: ``(N, H, W, 3)``, values 0-255 (float or uint8); ``labels``: ``(N, K)`` soft
    labels, each row's weights over the ``K`` classes. Returns a ``Figure`` like
    :func:`plot_image_grid`'s, each title listing the (at most two) classes with a weight
    above 0.5%, largest first, as ``0.62 cat``.
    """
    images = _as_images(images, "images", batched=True)
    labels = np.asarray(labels, dtype=float)
    if labels.ndim != 2 or len(labels) != len(images):
        problem = f"got shape {labels.shape} for {len(images)} images"
        raise ValueError(f"`labels` must be (N, K) soft labels, one row per image; {problem}.")
    captions = []
    for row in labels:
        top = [k for k in np.argsort(-row, kind="stable")[:2] if row[k] > 0.005]
        captions.append("\n".join(f"{row[k]:.2f} {class_names[int(k)]}" for k in top))
    return _image_grid(images, captions, ncols, title)


def _image_grid(images, captions, ncols, title):
    """One axes per image in rows of ``ncols``, each titled with its caption."""
    lines = max(caption.count("\n") + 1 for caption in captions)
    fig, axes = _panel_grid(len(images), ncols, side=1.2, caption_lines=lines)
    for ax, image, caption in zip(axes, images, captions, strict=True):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(caption, fontsize=7, pad=2)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def plot_class_balance(labels, class_names, title=None):
    """Bar chart of how many images each class has.

    ``labels``: class ids, ``(N,)`` or ``(N, 1)``; ``class_names``: ``K`` names. Returns a
    ``Figure`` with one axes of ``K`` bars (bar ``k`` is class ``k``, zero if it has no
    image), labeled with the class names when there are at most 20, and a dashed line at the
    mean count; titled by default with the number of images.
    """
    labels = np.asarray(labels).reshape(-1).astype(int)
    num_classes = len(class_names)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"`labels` must be class ids in [0, {num_classes}) to match `class_names`; "
            f"got values from {labels.min()} to {labels.max()}."
        )
    counts = np.bincount(labels, minlength=num_classes)
    fig, ax = plt.subplots(figsize=(7.0, 3.0), layout="constrained")
    ax.bar(np.arange(num_classes), counts, width=0.8)
    ax.axhline(counts.mean(), color="gray", linestyle="--", label=f"mean {counts.mean():.1f}")
    if num_classes <= 20:
        ax.set_xticks(np.arange(num_classes), [str(name) for name in class_names])
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    else:
        ax.set_xlabel("Class id")
    ax.set(ylabel="Images", title=title or f"Images per class ({len(labels):,} images)")
    fig.legend(frameon=False, loc="outside right upper")
    return fig


def plot_patch_grid(image, patch_size, image_size=None, title=None):
    """Draw the patch boundaries on an image and number each patch in reading order.

    ``image``: ``(H, W, 3)``, ``(H, W, 1)`` or ``(H, W)``, values 0-255, resized first to
    ``image_size x image_size`` if that is given (bilinear, as the models do); ``patch_size``:
    the side ``p`` of the square patches. Returns a ``Figure`` with one axes: the image, white
    grid lines on the patch boundaries (the axes' ticks) and the patch numbers ``0 .. P-1``,
    row by row; titled by default with the image size and the patch count.
    """
    image = _as_images(image, "image", batched=False)
    patch_size = check_positive_int("patch_size", patch_size)
    if image_size is not None:
        side = check_positive_int("image_size", image_size)
        image = np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR))
    height, width = image.shape[:2]
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"`patch_size`={patch_size} must divide the {height}x{width} image; choose a "
            "patch_size that divides both sides (or set `image_size`)."
        )
    rows, cols = height // patch_size, width // patch_size
    fig, ax = plt.subplots(figsize=(5, 5 * height / width + 0.4), layout="constrained")
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    # imshow puts pixel centers on integers, so pixel edges sit at half-integers.
    ax.set_xticks(np.arange(patch_size, width, patch_size) - 0.5, [])
    ax.set_yticks(np.arange(patch_size, height, patch_size) - 0.5, [])
    ax.tick_params(length=0)
    ax.grid(color="white", linewidth=1)
    outline = [patheffects.withStroke(linewidth=1.5, foreground="black")]
    style = dict(ha="center", va="center", color="white", path_effects=outline)
    for index in range(rows * cols):
        y, x = (np.array(divmod(index, cols)) + 0.5) * patch_size - 0.5
        ax.text(x, y, str(index), fontsize=min(11, 100 / max(rows, cols)), **style)
    patches = f"{rows}×{cols} = {rows * cols} patches of {patch_size}×{patch_size}"
    ax.set_title(title or f"{height}×{width} image → {patches}")
    return fig


def plot_patch_sequence(patches, patch_size, ncols=16, title=None):
    """Show a patch sequence as rows of tiles: the sequence of vectors the model sees.

    ``patches``: ``(P, p * p * C)`` flattened patches of one image (``C`` is 1 or 3), each in
    (row, column, channel) order: :class:`mlp_tutorial.Patches`' output for one image. uint8
    values are drawn as they are; floats are rescaled together (one min and max) to [0, 1].
    Returns a ``Figure`` with one axes showing the tiles in rows of ``ncols``, one white pixel
    apart: patch ``k`` is in the row labeled ``k - k % ncols`` and the column ``k % ncols``;
    titled by default with the sequence's length and patch shape.
    """
    patches = np.asarray(patches)
    p = check_positive_int("patch_size", patch_size)
    ncols = check_positive_int("ncols", ncols)
    channels = patches.shape[-1] // (p * p) if patches.ndim == 2 else 0
    if channels not in (1, 3) or patches.shape[1] != p * p * channels:
        raise ValueError(
            f"`patches` must have shape (P, patch_size * patch_size * C) with C = 1 or 3, "
            f"that is (P, {p * p}) or (P, {3 * p * p}) for `patch_size`={p}; got {patches.shape}."
        )
    low, high = (0, 255) if patches.dtype == np.uint8 else (patches.min(), patches.max())
    tiles = (patches - low) / max(high - low, 1e-12)
    num_patches = len(tiles)
    ncols = min(ncols, num_patches)
    nrows = (num_patches + ncols - 1) // ncols
    # Pad the sequence to whole rows and each tile with one white pixel, then lay it out.
    tiles = tiles.reshape(num_patches, p, p, channels)
    padding = ((0, nrows * ncols - num_patches), (0, 1), (0, 1), (0, 0))
    tiles = np.pad(tiles, padding, constant_values=1).reshape(nrows, ncols, p + 1, p + 1, channels)
    mosaic = tiles.swapaxes(1, 2).reshape(nrows * (p + 1), ncols * (p + 1), channels)
    mosaic = mosaic[..., 0] if channels == 1 else mosaic
    tile = min(0.4, 6.5 / ncols)  # inches, so that the figure fits the page
    fig, ax = plt.subplots(figsize=(tile * ncols + 0.5, tile * nrows + 0.9), layout="constrained")
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    centers = (p - 1) / 2 + (p + 1) * np.arange(max(nrows, ncols))
    ax.set_xticks(centers[:ncols], range(ncols), fontsize=8)
    ax.set_yticks(centers[:nrows], range(0, nrows * ncols, ncols), fontsize=8)
    ax.tick_params(length=0, top=True, labeltop=True, bottom=False, labelbottom=False)
    ax.spines[:].set_visible(False)
    each = f"each {p}×{p}×{channels} = {p * p * channels} numbers"
    ax.set_title(title or f"The sequence the model sees: {num_patches} patches, {each}")
    return fig


def plot_token_mixing_maps(weights, grid_shape, ncols=8, max_maps=16, title=None):
    """Show each hidden unit of a token-mixing layer as a map over the patch grid.

    Mixer's first token-mixing kernel ``W1`` has shape ``(P, D_S)``: column ``s`` holds
    the weight hidden unit ``s`` gives each of the ``P`` patches, so reshaped to the patch
    grid it shows *where* in the image that unit looks (Tolstikhin et al., 2021, Fig. 5).

    ``weights``: ``(P, K)``, column ``k`` one map; ``grid_shape``: ``(rows, cols)`` with
    ``rows * cols == P``. Returns a ``Figure`` with one axes per map, for the first
    ``max_maps`` columns in rows of ``ncols``, titled ``unit k``, each with its own color
    scale, ``±max|map|``, so white is zero.
    """
    weights = np.asarray(weights, dtype=float)
    rows, cols = _check_grid(weights, grid_shape, "weights")
    maps = weights[:, : check_positive_int("max_maps", max_maps)].T.reshape(-1, rows, cols)
    fig, axes = _panel_grid(len(maps), ncols, side=1.0, caption_lines=1)
    for index, (ax, weight_map) in enumerate(zip(axes, maps, strict=True)):
        ax.imshow(weight_map, cmap=DIVERGING_CMAP, norm=CenteredNorm())
        ax.set(xticks=[], yticks=[])
        ax.set_title(f"unit {index}", fontsize=8, pad=2)
    units = f"{len(maps)} of {weights.shape[1]} hidden units over the {rows}×{cols} patch grid"
    fig.suptitle(title or f"Token-mixing weights: {units} (red +, blue −)")
    return fig


def plot_spatial_projection(kernel, grid_shape, title=None):
    """Show which input patches a gMLP spatial gating unit lets each output patch see.

    ``kernel``: the SGU's spatial weight ``W``, ``(P, P)``; ``W[i, j]`` is the weight from
    input patch ``j`` to output patch ``i``. ``grid_shape``: ``(rows, cols)`` with
    ``rows * cols == P``. Returns a ``Figure`` with five panels sharing one diverging color
    scale, ``±max|W|``, and one colorbar: the whole matrix ``W``, then the rows ``W[i]`` of
    four output patches drawn as maps over the grid (top-left corner, middle of the top
    edge, center, bottom-right corner), titled ``output patch i``, with patch ``i`` outlined.
    """
    kernel = np.asarray(kernel, dtype=float)
    rows, cols = _check_grid(kernel, grid_shape, "kernel")
    size = rows * cols
    if kernel.shape[1] != size:
        raise ValueError(f"`kernel` must be a square (P, P) matrix; got shape {kernel.shape}.")
    corners = [(0, 0), (0, cols // 2), (rows // 2, cols // 2), (rows - 1, cols - 1)]
    mosaic = [["W", "W", 0, 1], ["W", "W", 2, 3]]  # W on the left, four rows on the right
    fig, axes = plt.subplot_mosaic(mosaic, figsize=(7.2, 3.8), layout="constrained")
    norm = CenteredNorm(halfrange=np.abs(kernel).max() or 1.0)
    image = axes["W"].imshow(kernel, cmap=DIVERGING_CMAP, norm=norm, interpolation="nearest")
    axes["W"].set(title=f"W ({size}×{size})", xlabel="input patch j", ylabel="output patch i")
    for panel, (row, col) in enumerate(corners):
        index, ax = row * cols + col, axes[panel]
        ax.imshow(kernel[index].reshape(rows, cols), cmap=DIVERGING_CMAP, norm=norm)
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, linewidth=1.5))
        ax.set(title=f"output patch {index}", xticks=[], yticks=[])
    fig.colorbar(image, ax=list(axes.values()), shrink=0.8, label="weight")
    fig.suptitle(title or "Spatial projection W: the input patches each output patch sees")
    return fig


def plot_spectrum(x, title=None, clip=None):
    """What FNet's token mixing does to one sequence ``x``: input, |FFT2| and Re(FFT2).

    ``x``: ``(P, C)`` real values (e.g. the patch embeddings of one image). Returns a
    ``Figure`` with three panels stacked, each with its colorbar: ``x``; the magnitude
    ``|FFT2(x)|`` on a log color scale, frequency zero in the middle (axes in frequency
    units); and ``Re(FFT2(x))``, the ``(P, C)`` table FNet adds to its input. The two
    diverging panels span ``±max|values|``; with ``clip``, a percentile in (0, 100], they
    span ``±`` that percentile of ``|values|`` instead, so that a few large entries (one
    dominant channel) do not wash out the rest; larger entries show in the end colors.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"`x` must be one sequence of shape (P, C); got shape {x.shape}.")
    number = isinstance(clip, int | float) and not isinstance(clip, bool)
    if clip is not None and not (number and 0 < clip <= 100):
        raise ValueError(f"`clip` must be None or a percentile in (0, 100]; got {clip!r}.")
    spectrum = np.fft.fft2(x)
    magnitude = np.fft.fftshift(np.abs(spectrum))
    fig, axes = plt.subplots(3, 1, figsize=(7.0, 7.5), layout="constrained")
    clipped = "" if clip is None else f", colors clipped at the {clip:g}th percentile of |·|"
    panels = [(axes[0], x, "input x"), (axes[2], spectrum.real, "Re(FFT2(x)): what FNet keeps")]
    for ax, values, panel_title in panels:
        limit = None if clip is None else np.percentile(np.abs(values), clip) or None
        norm = CenteredNorm(halfrange=limit)
        image = ax.imshow(values, cmap=DIVERGING_CMAP, norm=norm, aspect="auto")
        fig.colorbar(image, ax=ax, extend="neither" if clip is None else "both")
        ax.set(title=panel_title + clipped, xlabel="channel", ylabel="patch")
    # Frequency k sits at the center of pixel k; a zero magnitude is clipped to the floor.
    freq_p, freq_c = (np.fft.fftshift(np.fft.fftfreq(n, 1 / n)) for n in x.shape)
    vmax = magnitude.max() or 1.0
    vmin = max(magnitude[magnitude > 0].min(initial=vmax), 1e-6 * vmax)
    extent = (freq_c[0] - 0.5, freq_c[-1] + 0.5, freq_p[-1] + 0.5, freq_p[0] - 0.5)
    norm = LogNorm(vmin, vmax, clip=True)
    image = axes[1].imshow(magnitude, cmap="magma", norm=norm, aspect="auto", extent=extent)
    fig.colorbar(image, ax=axes[1])
    axes[1].set(xlabel="channel frequency", ylabel="sequence frequency")
    axes[1].set_title("|FFT2(x)|, log scale, zero frequency at the center")
    if title:
        fig.suptitle(title)
    return fig


def plot_scaling(num_patches, seconds, title=None):
    """Log-log plot of time per image against sequence length, with fitted slopes.

    A cost that grows as ``P**k`` is a straight line of slope ``k`` on log-log axes.
    ``num_patches``: the ``N >= 2`` sequence lengths ``P`` timed, ``(N,)``; ``seconds``:
    ``{label: (N,) seconds per image}``, one entry per block. Returns a ``Figure`` with one
    log-log axes: for each block the measured points and the least-squares line through
    their logs, dashed; the legend gives each slope.
    """
    num_patches = np.asarray(num_patches, dtype=float).ravel()
    if len(num_patches) < 2:
        raise ValueError(f"`num_patches` needs at least two lengths to fit; got {num_patches}.")
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    log_n = np.log10(num_patches)
    for index, (label, times) in enumerate(seconds.items()):
        times = np.asarray(times, dtype=float).ravel()
        if times.shape != num_patches.shape or np.any(times <= 0):
            raise ValueError(
                f"`seconds[{label!r}]` must hold {len(num_patches)} positive times, one per "
                f"entry of `num_patches`; got {times}."
            )
        slope, intercept = np.polyfit(log_n, np.log10(times), deg=1)
        color = _model_color(label, index)
        ax.loglog(num_patches, times, "o", color=color, label=f"{label} (slope {slope:.2f})")
        ax.loglog(num_patches, 10 ** (slope * log_n + intercept), "--", color=color)
    ax.set_xticks(num_patches, [f"{n:g}" for n in num_patches])
    ax.minorticks_off()
    ax.set(xlabel="Patches per image P", ylabel="Seconds per image")
    ax.set_title(title or "How the cost grows with the number of patches")
    ax.legend(frameon=False)
    return fig


def plot_time_to_accuracy(minutes, top1, example=None, title=None):
    """Test top-1 against training time: one line per run, and the Keras example's points.

    ``minutes`` and ``top1``: ``{run name: (N,) values}``, the training minutes summed up to
    the end of each epoch and the test top-1 (a fraction) after it; ``example``: ``{run
    name: (minutes, top1)}``, the example's published top-1 at its computed time, a star
    in the run's color. A run named like a model gets its color. Returns a ``Figure`` with
    one axes, accuracies in percent, titled by default "Test top-1 against training time".
    """
    if not minutes or set(minutes) != set(top1):
        raise ValueError(f"`minutes` and `top1` need the same runs; got {list(minutes)} "
                         f"and {list(top1)}.")  # fmt: skip
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    for index, (name, times) in enumerate(minutes.items()):
        times, accuracy = (np.asarray(v, dtype=float).ravel() for v in (times, top1[name]))
        if times.shape != accuracy.shape:
            problem = f"got {len(times)} and {len(accuracy)} values for {name!r}"
            raise ValueError(f"`minutes` and `top1` need one value per epoch; {problem}.")
        color = _model_color(name, index)
        ax.plot(times, 100 * accuracy, marker="o", markersize=3, color=color, label=name)
        if example and name in example:
            at, value = example[name]
            ax.plot(at, 100 * value, "*", markersize=13, color=color, markeredgecolor="black")
    if example:
        ax.plot([], [], "*", color="gray", markeredgecolor="black", label="Keras example")
    ax.set(xlabel="Training minutes", ylabel="Test top-1 accuracy (%)", xlim=(0, None))
    ax.set_title(title or "Test top-1 against training time")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def plot_lr_schedule(steps, values, title=None):
    """The learning rate over training: one line, ``values`` (``(N,)`` learning rates)
    against ``steps`` (``(N,)`` training steps); titled by default "Learning-rate schedule"."""
    steps = np.asarray(steps, dtype=float).ravel()
    values = np.asarray(values, dtype=float).ravel()
    if steps.shape != values.shape:
        problem = f"got {len(steps)} and {len(values)}"
        raise ValueError(f"`steps` and `values` must have the same length; {problem}.")
    fig, ax = plt.subplots(figsize=(6.0, 3.2), layout="constrained")
    ax.plot(steps, values)
    ax.set(xlabel="Training step", ylabel="Learning rate", ylim=(0, None))
    ax.set_title(title or "Learning-rate schedule")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    return fig


def _panel_grid(count, ncols, side, caption_lines):
    """A figure with ``count`` square axes in rows of ``ncols``, at most 7 inches wide."""
    ncols = min(check_positive_int("ncols", ncols), count)
    nrows = (count + ncols - 1) // ncols
    side = min(side, 7.0 / ncols)
    height = (side + 0.15 * caption_lines) * nrows + 0.4
    fig = plt.figure(figsize=(side * ncols, height), layout="constrained")
    return fig, [fig.add_subplot(nrows, ncols, index + 1) for index in range(count)]


def _model_color(name, index):
    """The color of the model named like ``name`` (``"MLP-Mixer"``), else the index-th."""
    key = re.sub(r"[^a-z]", "", str(name).lower())
    return next((color for model, color in MODEL_COLORS.items() if model in key), f"C{index % 10}")


def _check_grid(array, grid_shape, name):
    """Return ``(rows, cols)`` if ``array`` is 2-D with ``rows * cols`` rows."""
    rows, cols = (check_positive_int("grid_shape", n) for n in grid_shape)
    if array.ndim != 2 or len(array) != rows * cols:
        raise ValueError(
            f"`{name}` must be 2-D with one row per patch, {rows} * {cols} = {rows * cols} to "
            f"match `grid_shape`={tuple(grid_shape)}; got shape {array.shape}."
        )
    return rows, cols


def _as_images(images, name, batched):
    """Return images as uint8 RGB or grayscale (a single channel axis dropped)."""
    images = np.asarray(images)
    rank = 4 if batched else 3
    if images.ndim == rank and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (rank - 1, rank) or (images.ndim == rank and images.shape[-1] != 3):
        shape = "(N, H, W, 3) or (N, H, W)" if batched else "(H, W, 3) or (H, W)"
        raise ValueError(f"`{name}` must have shape {shape}; got {images.shape}.")
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)
