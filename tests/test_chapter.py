"""mlp_tutorial.chapter: the helpers the training chapters call in one line each."""

import types

import keras
import numpy as np
import pytest

from mlp_tutorial import chapter
from mlp_tutorial.checks import ParameterError
from mlp_tutorial.parameters import CPU_SETTINGS, run_arguments


def test_check_parameters_takes_the_parameters_the_namespace_defines(tmp_path):
    namespace = {"epochs": 3, "results_dir": str(tmp_path), "np": object(), "_": 1}
    params = chapter.check_parameters("fnet", namespace)
    assert params == {"model": "fnet", "epochs": 3, "results_dir": str(tmp_path)}
    # run again after the chapter built its model (a reader re-running the cell)
    rerun = chapter.check_parameters("fnet", {**namespace, "model": object()})
    assert rerun == params
    with pytest.raises(ParameterError, match="`epochs`='3'"):
        chapter.check_parameters("fnet", {"epochs": "3"})


def test_model_arguments_are_build_models_and_the_models_own_widths():
    params = {"model": "mixer", **CPU_SETTINGS["mixer"], "augmentation": "shift", "seed": 1}
    arguments = chapter.model_arguments(params)
    assert arguments == {
        key: params[key]
        for key in ("image_size", "patch_size", "embedding_dim", "num_blocks", "dropout_rate",
                    "tokens_mlp_dim", "channels_mlp_dim", "augmentation")
    }  # fmt: skip
    assert "ffn_dim" not in chapter.model_arguments({"model": "mixer", "ffn_dim": 8})


def test_run_arguments_are_the_chapters_else_the_cpu_values():
    assert run_arguments({"epochs": 2, "seed": 5}, "gmlp") == {
        "epochs": 2, "batch_size": 128, "learning_rate": 0.003, "weight_decay": 1e-4,
        "precision": "float32", "seed": 5, "recipe": "+label_smoothing",
    }  # fmt: skip


@pytest.mark.parametrize(
    "rates, story",
    [
        ([1e-3, 3e-3, 2e-3, 0.0], "warmed up to its peak, 3.0e-03, by epoch 2 and ended at 0.0e"),
        ([4e-3, 4e-3, 2e-3, 1e-3], "halved after epoch(s) 2, 3: from 4.0e-03"),
        ([4e-3, 3e-3, 1e-3], "fell from 4.0e-03 in epoch 1 to 1.0e-03 in epoch 3"),
        ([5e-3, 5e-3], "stayed at 5.0e-03 in every epoch"),
    ],
)
def test_the_learning_rate_story_reads_the_rates(rates, story):
    assert story in chapter.learning_rate_story(rates)


@pytest.mark.parametrize("top1, verdict", [(0.48, "reached"), (0.47, "did not reach")])
def test_the_comparison_says_whether_the_run_reached_the_example(capsys, top1, verdict):
    result = types.SimpleNamespace(test_top1=top1, test_top5=0.8, epochs_run=50)
    data = types.SimpleNamespace(name="cifar100", x_train=range(50_000))
    chapter.compare_with_example(result, data, "mixer")  # the example's 47.58%
    printed = " ".join(capsys.readouterr().out.split())
    assert f"this run reached {top1:.2%} top-1" in printed
    assert "reports 47.58% top-1 and 77.2% top-5" in printed
    assert printed.endswith(f"So this run {verdict} the example's top-1.")
    chapter.compare_with_example(result, types.SimpleNamespace(name="offline"), "mixer")
    assert "NOT on CIFAR-100" in " ".join(capsys.readouterr().out.split())


def test_trace_shapes_runs_the_layers_in_order_and_ends_at_the_logits(capsys):
    from mlp_tutorial import build_model

    model = build_model("fnet", num_classes=7, image_size=16, patch_size=4, embedding_dim=8,
                        num_blocks=2)  # fmt: skip
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3))
    outputs = chapter.trace_shapes(model, images)
    stages = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert stages == ["images", "augmentation", "patches", "patch_embedding",
                      "position_embedding", "fnet_block_0", "fnet_block_1", "pool",
                      "logits"]  # fmt: skip
    assert tuple(outputs["patches"].shape) == (3, 16, 48)
    expected = keras.ops.convert_to_numpy(model(images.astype("float32"), training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs["logits"]), expected, atol=1e-5)
