"""The figures show the data they are given: the right panels, data and labels, and errors.

What a reader relies on is checked: how many panels, the arrays actually drawn, the labels
that name them, and an error that names the bad argument. Colors, markers and sizes are
left free, except that figures stay narrow enough to be legible at page width.
"""

import io
import re

import matplotlib

matplotlib.use("Agg")  # draw off-screen: no window opens, on any machine

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from mlp_tutorial import Patches, plots  # noqa: E402

CLASS_NAMES = ["apple", "aquarium_fish", "baby", "bear", "beaver"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(epochs=4, seed=0, validation=True):
    """A Result.history: one value per epoch for each metric, accuracies in [0, 1]."""
    keys = ("loss", "top1", "top5") + (("val_loss", "val_top1", "val_top5") if validation else ())
    rng = np.random.default_rng(seed)
    return {key: rng.uniform(0, 1, epochs).tolist() for key in keys}


def images(count, seed=0, shape=(32, 32, 3)):
    return np.random.default_rng(seed).integers(0, 256, (count, *shape), dtype=np.uint8)


def titles(fig):
    return [ax.get_title() for ax in fig.axes]


# ------------------------------------------------------------------------ learning curves


def test_plot_history_draws_each_metric_of_each_split():
    data = history(epochs=5)
    fig = plots.plot_history(data, title="MLP-Mixer")

    assert fig.get_suptitle() == "MLP-Mixer"
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "Loss",
        "Top-1 accuracy (%)",
        "Top-5 accuracy (%)",
    ]
    for ax, key, scale in zip(fig.axes, ("loss", "top1", "top5"), (1, 100, 100), strict=True):
        train, validation = ax.get_lines()
        assert (train.get_label(), validation.get_label()) == ("train", "validation")
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4, 5])
        np.testing.assert_allclose(train.get_ydata(), scale * np.array(data[key]))
        np.testing.assert_allclose(validation.get_ydata(), scale * np.array(data[f"val_{key}"]))
        assert ax.get_xlabel() == "Epoch"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train", "validation"]


def test_plot_history_without_validation_draws_the_training_lines():
    data = history(epochs=100, validation=False)
    fig = plots.plot_history(data)
    for ax, key in zip(fig.axes, ("loss", "top1", "top5"), strict=True):
        (line,) = ax.get_lines()
        assert line.get_label() == "train" and len(line.get_ydata()) == len(data[key])


def test_plot_history_names_the_missing_keys():
    with pytest.raises(ValueError, match=r"`history`.*'top5'"):
        plots.plot_history({"loss": [1.0], "top1": [0.1]})


def test_plot_histories_one_named_line_per_run():
    runs = {"MLP-Mixer": history(3, seed=1), "FNet": history(5, seed=2), "gMLP": history(4)}
    fig = plots.plot_histories(runs, metric="val_top1")

    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == list(runs)
    for line, run in zip(ax.get_lines(), runs.values(), strict=True):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, len(run["val_top1"]) + 1))
        np.testing.assert_allclose(line.get_ydata(), 100 * np.array(run["val_top1"]))
    assert ax.get_ylabel() == ax.get_title() == "Validation top-1 accuracy (%)"
    assert len(ax.get_legend().get_texts()) == 3


def test_plot_histories_training_loss_is_not_scaled():
    run = history(3)
    (line,) = plots.plot_histories({"seed": run}, metric="loss").axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), run["loss"])
    assert line.axes.get_ylabel() == "Training loss"


def test_a_model_keeps_its_color_across_the_comparison_figures():
    """The promise of the module docstring: one color per model, distinct from the others."""
    names = ["mixer", "fnet", "gmlp"]
    curves = plots.plot_histories({name: history(3) for name in names}, "val_top1")
    seconds = {name: [1.0, 2.0] for name in ["attention", *names]}
    scaling = plots.plot_scaling([16, 32], seconds)
    curve_colors = [line.get_color() for line in curves.axes[0].get_lines()]
    scaling_colors = [line.get_color() for line in scaling.axes[0].get_lines()[2::2]]
    assert curve_colors == scaling_colors
    assert len(set(curve_colors)) == 3


def test_plot_histories_names_the_metric_a_run_lacks():
    with pytest.raises(ValueError, match=r"`metric`='val_top3'.*'mixer'"):
        plots.plot_histories({"mixer": history()}, metric="val_top3")
    with pytest.raises(ValueError, match="`histories`"):
        plots.plot_histories({})


def test_plot_lr_schedule_draws_the_values_against_the_steps():
    steps = np.arange(100)
    values = 1e-3 * np.cos(np.pi * steps / 200)
    fig = plots.plot_lr_schedule(steps, values, title="Warmup, then cosine decay")
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), steps)
    np.testing.assert_allclose(line.get_ydata(), values)
    assert (ax.get_ylabel(), ax.get_title()) == ("Learning rate", "Warmup, then cosine decay")
    with pytest.raises(ValueError, match="`steps` and `values`"):
        plots.plot_lr_schedule(steps, values[:-1])


# ------------------------------------------------------------------------ images


def test_plot_image_grid_one_axes_per_image_titled_with_its_class():
    shown = images(11)
    labels = np.random.default_rng(0).integers(0, 5, (11, 1))
    fig = plots.plot_image_grid(shown, labels, CLASS_NAMES, ncols=4, title="Eleven")

    assert fig.get_suptitle() == "Eleven"
    assert titles(fig) == [CLASS_NAMES[i] for i in labels.ravel()]
    for ax, image in zip(fig.axes, shown, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), image)
    # Four per row: the fifth image starts the second row, under the first.
    first, fifth = (fig.axes[i].get_subplotspec() for i in (0, 4))
    assert (fifth.rowspan.start, fifth.colspan.start) == (first.rowspan.start + 1, 0)


@pytest.mark.parametrize("channels", ["none", "one", "three equal"])
def test_plot_image_grid_shows_grayscale(channels):
    gray = images(3, shape=(32, 32))
    given = {"none": gray, "one": gray[..., None], "three equal": np.stack([gray] * 3, -1)}
    fig = plots.plot_image_grid(given[channels], [0, 1, 0], ["zero", "one"])
    assert titles(fig) == ["zero", "one", "zero"]
    drawn = fig.axes[1].images[0]
    np.testing.assert_array_equal(drawn.get_array().reshape(32, 32, -1)[..., 0], gray[1])
    assert drawn.get_array().ndim == 3 or drawn.get_cmap().name == "gray"  # not a false-color map


def test_plot_image_grid_draws_float_images_as_their_uint8_values():
    shown = images(2)
    fig = plots.plot_image_grid(shown.astype("float32"), [0, 1], CLASS_NAMES)
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), shown[1])


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(labels=[0, 1]), "`labels`"),
        (dict(ncols=0), "`ncols`"),
        (dict(images=np.zeros((3, 32, 32, 2), np.uint8)), "`images`"),
    ],
)
def test_plot_image_grid_names_the_bad_argument(kwargs, argument):
    arguments = dict(images=images(3), labels=[0, 1, 2], class_names=CLASS_NAMES) | kwargs
    with pytest.raises(ValueError, match=argument):
        plots.plot_image_grid(**arguments)


def test_plot_mixed_images_titles_name_the_mixed_classes_heavier_first():
    shown = images(3, shape=(8, 8, 3))
    labels = np.array([[0.7, 0.3, 0.0], [0.0, 0.25, 0.75], [0.0, 0.0, 1.0]])
    fig = plots.plot_mixed_images(shown, labels, ["cat", "dog", "owl"], ncols=3)
    assert titles(fig) == ["0.70 cat\n0.30 dog", "0.75 owl\n0.25 dog", "1.00 owl"]
    for ax, image in zip(fig.axes, shown, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), image)
    with pytest.raises(ValueError, match="`labels`"):
        plots.plot_mixed_images(shown, labels[:2], ["cat", "dog", "owl"])


def test_plot_class_balance_bars_are_the_counts_named_by_class():
    fig = plots.plot_class_balance(np.array([0, 0, 1, 2, 2, 2]), ["cat", "dog", "fox", "owl"])
    (ax,) = fig.axes
    assert [bar.get_height() for bar in ax.patches] == [2, 1, 3, 0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["cat", "dog", "fox", "owl"]
    (mean,) = ax.get_lines()
    assert mean.get_ydata()[0] == pytest.approx(1.5)
    assert "6 images" in ax.get_title()


def test_plot_class_balance_of_100_classes_shows_class_ids():
    fig = plots.plot_class_balance(np.repeat(np.arange(100), 5), [f"c{i}" for i in range(100)])
    (ax,) = fig.axes
    fig.canvas.draw()
    assert [bar.get_height() for bar in ax.patches] == [5] * 100
    ticks = [tick.get_text() for tick in ax.get_xticklabels()]
    assert 2 <= len(ticks) <= 15 and all(re.fullmatch(r"−?\d+", t) for t in ticks), ticks
    assert ax.get_xlabel() == "Class id"


def test_plot_class_balance_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"`labels`.*\[0, 2\)"):
        plots.plot_class_balance([0, 2], ["cat", "dog"])


# ------------------------------------------------------------------------ patches


def test_plot_patch_grid_draws_the_boundaries_and_numbers_the_patches():
    (image,) = images(1)
    fig = plots.plot_patch_grid(image, patch_size=8)
    (ax,) = fig.axes
    fig.canvas.draw()

    np.testing.assert_array_equal(ax.images[0].get_array(), image)
    # The grid lines sit on the pixel edges between patches: 8, 16, 24 pixels in.
    np.testing.assert_array_equal(ax.get_xticks(), [7.5, 15.5, 23.5])
    np.testing.assert_array_equal(ax.get_yticks(), [7.5, 15.5, 23.5])
    assert all(line.get_visible() for line in ax.xaxis.get_gridlines() + ax.yaxis.get_gridlines())
    assert [text.get_text() for text in ax.texts] == [str(i) for i in range(16)]
    # Patch 6 is in row 1, column 2: its number sits at that patch's center.
    assert ax.texts[6].get_position() == (19.5, 11.5)
    assert "16 patches" in ax.get_title()


def test_plot_patch_grid_resizes_first():
    (image,) = images(1)
    fig = plots.plot_patch_grid(image, patch_size=6, image_size=72)
    (ax,) = fig.axes
    assert ax.images[0].get_array().shape == (72, 72, 3)
    assert len(ax.get_xticks()) == len(ax.get_yticks()) == 72 // 6 - 1
    assert len(ax.texts) == 144


def test_plot_patch_grid_rejects_a_patch_size_that_does_not_divide():
    with pytest.raises(ValueError, match="`patch_size`=6"):
        plots.plot_patch_grid(np.zeros((32, 32, 3), np.uint8), patch_size=6)


def tile(fig, k, patch_size, ncols):
    """Tile ``k`` of a plot_patch_sequence figure: tiles are one pixel apart."""
    row, col = divmod(k, ncols)
    step = patch_size + 1
    mosaic = fig.axes[0].images[0].get_array()
    return mosaic[row * step : row * step + patch_size, col * step : col * step + patch_size]


def test_plot_patch_sequence_tiles_are_the_patches_layers_output_in_order():
    p = 8
    (image,) = images(1)
    patches = keras.ops.convert_to_numpy(Patches(p)(image[None].astype("float32")))[0]
    fig = plots.plot_patch_sequence(patches.astype(np.uint8), patch_size=p, ncols=3)

    (ax,) = fig.axes
    for k in range(16):
        row, col = divmod(k, 4)
        expected = image[row * p : (row + 1) * p, col * p : (col + 1) * p] / 255
        np.testing.assert_allclose(tile(fig, k, p, ncols=3), expected)
    # Rows are labeled with their first patch's index, columns with the offset.
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "3", "6", "9", "12", "15"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert "16 patches" in ax.get_title() and "8×8×3 = 192" in ax.get_title()


def test_plot_patch_sequence_rescales_floats_with_one_min_and_max():
    patches = np.random.default_rng(0).normal(size=(10, 4 * 4 * 1)) * 50
    fig = plots.plot_patch_sequence(patches, patch_size=4)
    expected = (patches - patches.min()) / (patches.max() - patches.min())
    np.testing.assert_allclose(tile(fig, 3, 4, ncols=10), expected[3].reshape(4, 4))


def test_plot_patch_sequence_names_the_patch_width():
    with pytest.raises(ValueError, match=r"`patches`.*\(P, 64\) or \(P, 192\)"):
        plots.plot_patch_sequence(np.zeros((16, 100)), patch_size=8)


# ------------------------------------------------------------------------ learned weights


def test_plot_token_mixing_maps_are_the_columns_on_the_patch_grid():
    weights = np.random.default_rng(0).normal(size=(12, 20))
    fig = plots.plot_token_mixing_maps(weights, grid_shape=(3, 4), ncols=5, max_maps=7)

    assert titles(fig) == [f"unit {k}" for k in range(7)]
    for k, ax in enumerate(fig.axes):
        image = ax.images[0]
        np.testing.assert_allclose(image.get_array(), weights[:, k].reshape(3, 4))
        assert image.get_clim() == pytest.approx(np.array([-1, 1]) * np.abs(weights[:, k]).max())
    assert "7 of 20 hidden units" in fig.get_suptitle()


def test_plot_token_mixing_maps_checks_the_grid_shape():
    with pytest.raises(ValueError, match=r"`weights`.*`grid_shape`"):
        plots.plot_token_mixing_maps(np.zeros((12, 4)), grid_shape=(4, 4))


def test_plot_spatial_projection_shows_the_matrix_and_four_of_its_rows():
    kernel = np.random.default_rng(0).normal(size=(20, 20))
    fig = plots.plot_spatial_projection(kernel, grid_shape=(4, 5), title="after training")
    axes = {ax.get_title(): ax for ax in fig.axes if ax.images}
    limit = np.abs(kernel).max()

    assert fig.get_suptitle() == "after training"
    np.testing.assert_allclose(axes["W (20×20)"].images[0].get_array(), kernel)
    # Top-left corner, middle of the top edge, center, bottom-right corner.
    assert list(axes)[1:] == [f"output patch {i}" for i in (0, 2, 12, 19)]
    for i in (0, 2, 12, 19):
        ax = axes[f"output patch {i}"]
        np.testing.assert_allclose(ax.images[0].get_array(), kernel[i].reshape(4, 5))
        assert ax.images[0].get_clim() == pytest.approx((-limit, limit))  # one shared scale
        (box,) = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
        row, col = divmod(i, 5)
        assert box.get_xy() == (col - 0.5, row - 0.5)


def test_plot_spatial_projection_needs_a_square_kernel():
    with pytest.raises(ValueError, match="`kernel`"):
        plots.plot_spatial_projection(np.zeros((16, 8)), (4, 4))


def test_plot_spectrum_panels_are_the_input_and_its_fourier_transform():
    x = np.random.default_rng(0).normal(size=(16, 24))
    fig = plots.plot_spectrum(x)
    inputs, magnitude, real = (ax.images[0] for ax in fig.axes if ax.images)
    expected = np.fft.fft2(x)

    np.testing.assert_allclose(inputs.get_array(), x)
    np.testing.assert_allclose(magnitude.get_array(), np.fft.fftshift(np.abs(expected)))
    # After the shift, frequency zero (the sum of x) sits at row P/2, column C/2 ...
    assert magnitude.get_array()[8, 12] == pytest.approx(abs(x.sum()))
    # ... which the frequency axes put at (0, 0).
    left, right, bottom, top = magnitude.get_extent()
    assert (left + 12.5, top + 8.5) == (0, 0) and (right, bottom) == (11.5, 7.5)
    np.testing.assert_allclose(real.get_array(), expected.real)
    assert real.get_clim() == pytest.approx(np.array([-1, 1]) * np.abs(expected.real).max())


def test_plot_spectrum_clip_keeps_one_large_channel_from_washing_out_the_rest():
    x = np.random.default_rng(0).normal(size=(64, 128))
    x[:, 0] *= 200  # one channel of 128 holds most of the energy, as in a trained FNet
    fig = plots.plot_spectrum(x, clip=99)
    inputs, _, real = (ax.images[0] for ax in fig.axes if ax.images)

    # The input's scale is set by the other 127 channels: well below channel 0's values.
    assert inputs.get_clim() == pytest.approx(np.array([-1, 1]) * np.percentile(abs(x), 99))
    assert inputs.get_clim()[1] < 0.05 * np.abs(x).max()
    expected = np.fft.fft2(x).real
    assert real.get_clim()[1] == pytest.approx(np.percentile(abs(expected), 99))
    np.testing.assert_allclose(inputs.get_array(), x)  # values are kept, only colors clip
    assert all("99th percentile" in fig.axes[i].get_title() for i in (0, 2))


@pytest.mark.parametrize("clip", [0, 101, "99", True])
def test_plot_spectrum_names_a_bad_clip(clip):
    with pytest.raises(ValueError, match=r"`clip`.*\(0, 100\]"):
        plots.plot_spectrum(np.ones((4, 4)), clip=clip)


def test_plot_spectrum_names_a_batch_given_for_one_sequence():
    with pytest.raises(ValueError, match=r"`x`.*\(P, C\)"):
        plots.plot_spectrum(np.zeros((2, 16, 24)))


def test_plot_scaling_legend_gives_the_fitted_slopes():
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


def test_plot_scaling_names_a_series_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"`seconds\['fnet'\]`"):
        plots.plot_scaling([32, 64, 128], {"fnet": [1.0, 2.0]})


def test_plot_time_to_accuracy_draws_each_run_and_the_example_in_its_color():
    minutes = {"gmlp_w128": [1.2, 2.5, 3.7], "fnet_w128": [1.0, 2.0]}
    top1 = {"gmlp_w128": [0.2, 0.35, 0.41], "fnet_w128": [0.18, 0.3]}
    example = {"gmlp_w128": (138.0, 0.5064)}
    fig = plots.plot_time_to_accuracy(minutes, top1, example=example)
    (ax,) = fig.axes
    gmlp, star, fnet, _ = ax.get_lines()  # the last: the legend's example entry
    np.testing.assert_allclose(gmlp.get_xdata(), minutes["gmlp_w128"])
    np.testing.assert_allclose(gmlp.get_ydata(), [20, 35, 41])  # percent
    assert (star.get_xdata()[0], star.get_ydata()[0]) == pytest.approx((138.0, 50.64))
    assert star.get_color() == gmlp.get_color() == plots.MODEL_COLORS["gmlp"]
    assert fnet.get_color() == plots.MODEL_COLORS["fnet"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["gmlp_w128", "fnet_w128", "Keras example"]


def test_plot_time_to_accuracy_names_mismatched_runs_and_lengths():
    with pytest.raises(ValueError, match="`minutes` and `top1` need the same runs"):
        plots.plot_time_to_accuracy({"a": [1.0]}, {"b": [0.1]})
    with pytest.raises(ValueError, match="one value per epoch.*'a'"):
        plots.plot_time_to_accuracy({"a": [1.0, 2.0]}, {"a": [0.1]})


# ------------------------------------------------------------------------ on the page


def notebook_sized_figures():
    """Each figure drawn with the sizes the chapters use; zeros where a map may be flat."""
    rng = np.random.default_rng(0)
    sequence = rng.integers(0, 256, (64, 8 * 8 * 3)).astype("uint8")
    return {
        "history": lambda: plots.plot_history(history(50)),
        "histories": lambda: plots.plot_histories({"mixer": history(50)}),
        "image grid": lambda: plots.plot_image_grid(images(32), [1] * 32, CLASS_NAMES),
        "mixed images": lambda: plots.plot_mixed_images(images(8), np.eye(5)[[1] * 8], CLASS_NAMES),
        "class balance": lambda: plots.plot_class_balance(np.arange(100), list(range(100))),
        "patch grid": lambda: plots.plot_patch_grid(images(1)[0], 8, image_size=64),
        "patch sequence": lambda: plots.plot_patch_sequence(sequence, 8),
        "token maps": lambda: plots.plot_token_mixing_maps(np.zeros((64, 32)), (8, 8), 8, 32),
        "spatial": lambda: plots.plot_spatial_projection(np.zeros((64, 64)), (8, 8)),
        "spectrum": lambda: plots.plot_spectrum(np.zeros((64, 256))),
        "clipped spectrum": lambda: plots.plot_spectrum(rng.normal(size=(64, 128)), clip=99),
        "scaling": lambda: plots.plot_scaling([64, 1024], {"gmlp": [1e-5, 1e-3]}),
        "lr": lambda: plots.plot_lr_schedule(np.arange(10), np.linspace(0, 1e-3, 10)),
        "time to accuracy": lambda: plots.plot_time_to_accuracy(
            {"gmlp": np.arange(1, 51) * 1.3},
            {"gmlp": np.linspace(0.1, 0.5, 50)},
            example={"gmlp": (138.0, 0.5064)},
        ),
    }


@pytest.mark.parametrize("name", list(notebook_sized_figures()))
def test_figure_is_legible_at_page_width(name):
    """Saved as the notebook's inline backend saves it (100 dpi, tight box), a figure is at
    most 760 px wide: the book's text column at 1280 px is about 690 px, and a wider
    figure is scaled down with its labels."""
    fig = notebook_sized_figures()[name]()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100, bbox_inches="tight")
    width = int.from_bytes(png.getvalue()[16:20], "big")  # from the PNG header
    assert width <= 760
    assert all(np.isfinite(image.get_clim()).all() for ax in fig.axes for image in ax.images)
