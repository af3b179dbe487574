"""The figures draw the numbers they are given: data on the axes, labels, layout."""

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from mlp_tutorial import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _history(epochs=4):
    rng = np.random.default_rng(0)
    return {
        key: rng.uniform(0, 1, epochs).tolist()
        for key in ("loss", "top1", "top5", "val_loss", "val_top1", "val_top5")
    } | {"learning_rate": [1e-3] * epochs}


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_plot_history_draws_train_and_validation_per_metric():
    history = _history(epochs=5)
    fig = plots.plot_history(history, title="Mixer")

    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert fig.get_suptitle() == "Mixer"
    for ax, key, scale in zip(fig.axes, ("loss", "top1", "top5"), (1, 100, 100), strict=True):
        train, val = ax.get_lines()
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4, 5])
        np.testing.assert_allclose(train.get_ydata(), scale * np.array(history[key]))
        np.testing.assert_allclose(val.get_ydata(), scale * np.array(history[f"val_{key}"]))
        assert train.get_color() == plots.PALETTE["train"]
        assert val.get_color() == plots.PALETTE["validation"]
        assert train.get_marker() == "o"
    assert "%" in fig.axes[1].get_ylabel()
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert legend == ["train", "validation"]


def test_plot_history_long_runs_have_no_markers_and_validation_is_optional():
    history = {key: np.linspace(0, 1, 100) for key in ("loss", "top1", "top5")}
    fig = plots.plot_history(history)
    for ax in fig.axes:
        (line,) = ax.get_lines()
        assert line.get_marker() in (None, "None", "")


def test_plot_history_names_missing_keys():
    with pytest.raises(ValueError, match="top5"):
        plots.plot_history({"loss": [1.0], "top1": [0.1]})


def test_plot_histories_one_line_per_model_with_book_colors():
    histories = {"MLP-Mixer": _history(3), "FNet": _history(5), "gMLP": _history(4)}
    fig = plots.plot_histories(histories, metric="val_top1")

    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == list(histories)
    for line, history in zip(lines, histories.values(), strict=True):
        np.testing.assert_allclose(line.get_ydata(), 100 * np.array(history["val_top1"]))
    assert [line.get_color() for line in lines] == [
        plots.MODEL_COLORS["mixer"],
        plots.MODEL_COLORS["fnet"],
        plots.MODEL_COLORS["gmlp"],
    ]
    assert ax.get_ylabel() == "Validation top-1 accuracy (%)"
    assert len(ax.get_legend().get_texts()) == 3


def test_plot_histories_rejects_unknown_metric():
    with pytest.raises(ValueError, match="val_top3"):
        plots.plot_histories({"mixer": _history()}, metric="val_top3")


def test_plot_image_grid_one_captioned_axes_per_image():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (11, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 5, (11, 1))
    class_names = ["apple", "aquarium_fish", "baby", "bear", "beaver"]
    fig = plots.plot_image_grid(images, labels, class_names, ncols=4)

    assert len(fig.axes) == 12
    visible = _visible_axes(fig)
    assert len(visible) == 11
    assert [ax.get_title() for ax in visible] == [class_names[i] for i in labels.ravel()]
    for ax, image in zip(visible, images, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), image)
        assert not ax.axison


def test_plot_image_grid_shows_grayscale():
    gray = np.random.default_rng(1).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    as_rgb = np.repeat(gray[..., None], 3, axis=-1)
    for images in (gray, gray[..., None], as_rgb):
        fig = plots.plot_image_grid(images, [0, 1, 0], ["zero", "one"])
        assert len(_visible_axes(fig)) == 3
        assert fig.axes[0].images[0].get_array().shape[:2] == (32, 32)


def test_plot_class_balance_bars_are_counts():
    labels = np.array([0, 0, 1, 2, 2, 2])
    fig = plots.plot_class_balance(labels, ["cat", "dog", "fox", "owl"])
    (ax,) = fig.axes
    assert [bar.get_height() for bar in ax.patches] == [2, 1, 3, 0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["cat", "dog", "fox", "owl"]


def test_plot_class_balance_many_classes_has_few_ticks():
    labels = np.repeat(np.arange(100), 5)
    fig = plots.plot_class_balance(labels, [f"class_{i}" for i in range(100)])
    (ax,) = fig.axes
    fig.canvas.draw()
    assert len(ax.patches) == 100
    assert all(bar.get_height() == 5 for bar in ax.patches)
    tick_texts = [tick.get_text() for tick in ax.get_xticklabels()]
    assert len(tick_texts) <= 15
    assert not any(text.startswith("class_") for text in tick_texts)


def test_plot_patch_grid_draws_boundaries_and_numbers():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    fig = plots.plot_patch_grid(image, patch_size=8)
    (ax,) = fig.axes

    horizontal = sorted(line.get_ydata()[0] for line in ax.lines if line.get_xdata()[0] == 0)
    vertical = sorted(line.get_xdata()[0] for line in ax.lines if line.get_ydata()[0] == 0)
    assert horizontal == vertical == [7.5, 15.5, 23.5]
    assert len(ax.lines) == 6
    assert [text.get_text() for text in ax.texts] == [str(i) for i in range(16)]
    # Patch 5 is in row 1, column 1: its label sits at that patch's center.
    assert ax.texts[5].get_position() == (11.5, 11.5)
    np.testing.assert_array_equal(ax.images[0].get_array(), image)


def test_plot_patch_grid_resizes_first():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    fig = plots.plot_patch_grid(image, patch_size=6, image_size=72, interpolation="nearest")
    (ax,) = fig.axes
    assert ax.images[0].get_array().shape == (72, 72, 3)
    assert len(ax.lines) == 2 * (72 // 6 - 1)
    assert len(ax.texts) == 144


def test_plot_patch_grid_rejects_patch_size_that_does_not_divide():
    with pytest.raises(ValueError, match="patch_size"):
        plots.plot_patch_grid(np.zeros((32, 32, 3), np.uint8), patch_size=6)


def test_plot_patch_sequence_tiles_follow_the_patches_layer():
    import keras

    from mlp_tutorial import Patches

    p = 8
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    patches = keras.ops.convert_to_numpy(Patches(p)(image[None].astype("float32")))[0]
    fig = plots.plot_patch_sequence(patches.astype(np.uint8), patch_size=p)

    (ax,) = fig.axes
    assert len(ax.images) == 16
    assert [text.get_text() for text in ax.texts] == [str(k) for k in range(16)]
    for k, tile in enumerate(ax.images):
        np.testing.assert_array_equal(tile.get_array(), patches[k].reshape(p, p, 3))
        row, col = divmod(k, 4)
        np.testing.assert_array_equal(
            tile.get_array(), image[row * p : (row + 1) * p, col * p : (col + 1) * p]
        )


def test_plot_patch_sequence_rescales_floats_and_truncates():
    patches = np.random.default_rng(0).normal(size=(64, 4 * 4 * 3)) * 50
    fig = plots.plot_patch_sequence(patches, patch_size=4, max_patches=10)
    (ax,) = fig.axes
    assert len(ax.images) == 10
    expected = (patches - patches.min()) / (patches.max() - patches.min())
    np.testing.assert_allclose(ax.images[3].get_array(), expected[3].reshape(4, 4, 3))
    assert "first 10 of 64" in ax.get_title()


def test_plot_patch_sequence_checks_the_patch_width():
    with pytest.raises(ValueError, match="patch_size"):
        plots.plot_patch_sequence(np.zeros((16, 100)), patch_size=8)


def test_plot_token_mixing_maps_are_columns_on_the_grid():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(12, 20))
    fig = plots.plot_token_mixing_maps(weights, grid_shape=(3, 4), ncols=5, max_maps=7)

    maps = _visible_axes(fig)
    assert len(maps) == 7
    assert len(fig.axes) == 10
    for k, ax in enumerate(maps):
        image = ax.images[0]
        np.testing.assert_allclose(image.get_array(), weights[:, k].reshape(3, 4))
        low, high = image.get_clim()
        assert low == -high == -np.abs(weights[:, k]).max()
        assert len(ax.get_xticks()) == len(ax.get_yticks()) == 0


def test_plot_token_mixing_maps_checks_grid_shape():
    with pytest.raises(ValueError, match="grid_shape"):
        plots.plot_token_mixing_maps(np.zeros((12, 4)), grid_shape=(4, 4))


def test_plot_spatial_projection_panels_are_rows_of_the_kernel():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(20, 20))
    fig = plots.plot_spatial_projection(kernel, grid_shape=(4, 5))

    matrix_ax = fig.axes[0]
    np.testing.assert_allclose(matrix_ax.images[0].get_array(), kernel)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title().startswith("output patch")}
    # Defaults: top-left corner, middle of the top edge, center, bottom-right corner.
    assert list(panels) == [f"output patch {i}" for i in (0, 2, 12, 19)]
    for i, ax in zip((0, 2, 12, 19), panels.values(), strict=True):
        np.testing.assert_allclose(ax.images[0].get_array(), kernel[i].reshape(4, 5))
        low, high = ax.images[0].get_clim()
        assert low == -high
        (box,) = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
        row, col = divmod(i, 5)
        assert box.get_xy() == (col - 0.5, row - 0.5)


def test_plot_spatial_projection_chosen_patches_without_matrix():
    kernel = np.eye(16)
    fig = plots.plot_spatial_projection(kernel, (4, 4), patch_indices=[5], show_matrix=False)
    (panel,) = [ax for ax in fig.axes if ax.images]
    assert panel.get_title() == "output patch 5"
    np.testing.assert_array_equal(panel.images[0].get_array(), np.eye(16)[5].reshape(4, 4))
    with pytest.raises(ValueError, match="patch_indices"):
        plots.plot_spatial_projection(kernel, (4, 4), patch_indices=[16])


def test_plot_spectrum_panels_are_the_fourier_transform():
    x = np.random.default_rng(0).normal(size=(16, 24))
    fig = plots.plot_spectrum(x)
    data_axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(data_axes) == 3
    inputs, magnitude, real = (ax.images[0] for ax in data_axes)

    np.testing.assert_allclose(inputs.get_array(), x)
    expected = np.fft.fft2(x)
    np.testing.assert_allclose(magnitude.get_array(), np.fft.fftshift(np.abs(expected)))
    assert isinstance(magnitude.norm, LogNorm)
    # After the shift, frequency zero (the sum of x) sits at row P//2, column C//2.
    assert magnitude.get_array()[8, 12] == pytest.approx(abs(x.sum()))
    np.testing.assert_allclose(real.get_array(), expected.real)
    low, high = real.get_clim()
    assert low == -high


def test_plot_scaling_reports_fitted_slopes():
    n = np.array([16, 64, 256, 1024])
    noise = np.random.default_rng(0).uniform(0.97, 1.03, size=n.shape)
    seconds = {"self-attention": 1e-9 * n**2 * noise, "MLP-Mixer": 3e-7 * n}
    fig = plots.plot_scaling(n, seconds)

    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    slopes = {}
    for text in ax.get_legend().get_texts():
        label, slope = re.fullmatch(r"(.+) \(slope (-?[\d.]+)\)", text.get_text()).groups()
        slopes[label] = float(slope)
    assert slopes["self-attention"] == pytest.approx(2.0, abs=0.05)
    assert slopes["MLP-Mixer"] == pytest.approx(1.0, abs=0.01)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), seconds["self-attention"])


def test_plot_scaling_accepts_rows_with_labels_and_given_fits():
    n = [32, 64, 128]
    fig = plots.plot_scaling(n, [[1, 2, 4]], labels=["fnet"], fits={"fnet": (1.5, 0.0)})
    (text,) = fig.axes[0].get_legend().get_texts()
    assert text.get_text() == "fnet (slope 1.50)"
    with pytest.raises(ValueError, match="labels"):
        plots.plot_scaling(n, [[1, 2, 4]])


def test_plot_lr_schedule_draws_the_values():
    steps = np.arange(100)
    values = 1e-3 * np.cos(np.pi * steps / 200)
    fig = plots.plot_lr_schedule(steps, values)
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), values)
    assert fig.axes[0].get_ylabel() == "Learning rate"


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plots.plot_history(_history()),
        lambda: plots.plot_image_grid(np.zeros((5, 32, 32, 3), np.uint8), [0] * 5, ["a"]),
        lambda: plots.plot_patch_sequence(np.zeros((64, 48), np.uint8), patch_size=4),
        lambda: plots.plot_token_mixing_maps(np.ones((64, 32)), (8, 8)),
        lambda: plots.plot_spatial_projection(np.zeros((64, 64)), (8, 8)),
        lambda: plots.plot_spectrum(np.zeros((64, 32))),
    ],
)
def test_figures_render_to_png(draw, tmp_path):
    fig = draw()
    path = tmp_path / "figure.png"
    fig.savefig(path)
    assert path.stat().st_size > 0


def test_plot_mixed_images_captions_name_the_mixed_classes():
    """Each caption lists the two classes a soft label mixes, heavier first, with weights."""
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    labels = np.array([[0.7, 0.3, 0.0], [0.0, 0.25, 0.75], [0.0, 0.0, 1.0]])
    fig = plots.plot_mixed_images(images, labels, ["cat", "dog", "owl"], ncols=3)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [
        "0.70 cat\n0.30 dog",
        "0.75 owl\n0.25 dog",
        "1.00 owl",
    ]
    for ax, image in zip(axes, images, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), image)
    with pytest.raises(ValueError, match="`labels`"):
        plots.plot_mixed_images(images, labels[:2], ["cat", "dog", "owl"])
