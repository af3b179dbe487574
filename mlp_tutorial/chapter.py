"""What every training chapter does around its model, one call each: check the parameters
cell, load the data with a run card, train or load the model, and say what the run gave."""

import inspect
from pathlib import Path

import keras
import numpy as np

from mlp_tutorial.classifier import MODELS, build_classifier
from mlp_tutorial.data import load_dataset
from mlp_tutorial.display import say
from mlp_tutorial.environment import print_run_card
from mlp_tutorial.parameters import PARAMETERS, run_arguments, validate_parameters
from mlp_tutorial.pretrained import load_trained, save_trained
from mlp_tutorial.training import run_experiment, set_seed


def check_parameters(model, namespace):
    """The chapter's parameters for ``model``, checked: every name of :data:`PARAMETERS`
    that ``namespace`` (the chapter's ``globals()``) defines, paths made absolute."""
    # not the namespace's `model`: once the chapter has built one, that is a keras.Model
    given = {name: namespace[name] for name in PARAMETERS if name in namespace}
    return validate_parameters(**{**given, "model": model})


def load_data(params):
    """Set the precision and the seed, load the chapter's data and print its run card."""
    keras.config.set_dtype_policy(params["precision"])  # the model is built under it
    set_seed(params["seed"])
    data = load_dataset(
        params["dataset"], path=params["data_path"], train_limit=params["train_limit"],
        seed=params["seed"],
    )  # fmt: skip
    print_run_card(data, **params)
    return data


def model_arguments(params):
    """The ``build_model`` arguments among ``params``."""
    accepted = {*inspect.signature(build_classifier).parameters, "num_blocks"}
    accepted |= set(MODELS[params["model"]].widths(1))  # its hidden widths
    return {name: value for name, value in params.items() if name in accepted}


#: What each stage of a book model does, for :func:`trace_shapes`.
STAGES = {
    "augmentation": "(B, S, S, 3): normalized, resized to image_size S",
    "patches": "(B, P, p*p*3): P = (S/p)^2 flattened patches",
    "patch_embedding": "(B, P, C): one Dense layer shared by all patches",
    "position_embedding": "(B, P, C): plus one learned vector per position",
    "block": "(B, P, C): a block keeps the shape",
    "final_norm": "(B, P, C): a LayerNorm before the head",
    "pool": "(B, C): the mean over the P patches",
    "logits": "(B, K): one score per class",
}


def show(stage, tensor, meaning):
    """Print one line: a stage's name, its tensor's shape and what the shape means."""
    print(f"{stage:<18} {str(tuple(tensor.shape)):<17} {meaning}")


def trace_shapes(model, images):
    """Push ``images`` (B, 32, 32, 3) through ``model``'s layers one at a time, as at test
    time (dropout does nothing then and is left out), printing each output's shape and what
    it means; returns ``{layer name: output}``."""
    x = np.asarray(images, "float32")
    show("images", x, "(B, 32, 32, 3): pixel values 0-255")
    outputs = {}
    for layer in model.layers[1:]:  # after the Input
        if not isinstance(layer, keras.layers.Dropout):
            x = outputs[layer.name] = layer(x, training=False)
            show(layer.name, x, STAGES["block" if "_block_" in layer.name else layer.name])
    return outputs


def train_or_load(model, data, params):
    """Train ``model`` as ``params`` say and save it beside its record (``train``), or load
    the book's trained model instead and test it again; returns the model and the Result."""
    name = params["model"]
    if not params["train"]:
        model, result = load_trained(
            name, dataset=data, results_dir=params["results_dir"], config=params
        )
        say(f"(this model trained for {result.epochs_run} epochs in "
            f"{result.train_time_s:,.0f} s on {result.record['device']})")  # fmt: skip
        return model, result
    record_path = Path(params["results_dir"]) / f"{name}.json"
    result = run_experiment(
        model, data, **run_arguments(params, name), early_stopping_patience=None,
        checkpoint_dir=params["checkpoint_dir"], results_path=record_path, config=params,
    )  # fmt: skip
    save_trained(model, record_path)  # <name>.keras beside the record, its hash in it
    return model, result


def describe_run(result):
    """Print the test accuracy, the size and speed of the run, and how its learning rate
    moved, all read from ``result``."""
    print(f"test top-1 accuracy {result.test_top1:.1%}, top-5 accuracy "
          f"{result.test_top5:.1%} after {result.epochs_run} epochs")  # fmt: skip
    print(f"{result.num_params:,} parameters, {result.train_images_per_second:,.0f} "
          "training images per second on the machine that trained it")  # fmt: skip
    say(learning_rate_story(result.history["learning_rate"]))


def learning_rate_story(rates):
    """One sentence on the learning rates at the end of each epoch: a warmup and decay,
    halvings on plateaus, a fall, or none."""
    rates = list(rates)
    peak, last, n = max(rates), rates[-1], len(rates)
    fell = [e for e in range(1, n) if rates[e] < rates[e - 1]]  # fell after epoch e
    if rates[0] < peak:  # a warmup, then the schedule's decay
        return (f"The learning rate warmed up to its peak, {peak:.1e}, by epoch "
                f"{rates.index(peak) + 1} and ended at {last:.1e} in epoch {n}.")  # fmt: skip
    if fell and all(np.isclose(rates[e], rates[e - 1] / 2) for e in fell):
        return (f"The learning rate was halved after epoch(s) {', '.join(map(str, fell))}: "
                f"from {rates[0]:.1e} at the start to {last:.1e} in the last epoch.")  # fmt: skip
    if fell:
        return f"The learning rate fell from {rates[0]:.1e} in epoch 1 to {last:.1e} in epoch {n}."
    return f"The learning rate stayed at {rates[0]:.1e} in every epoch."


def compare_with_example(result, data, model):
    """Print this run's test accuracy beside the Keras example's for ``model`` on CIFAR-100
    (:data:`~mlp_tutorial.classifier.MODELS`), and whether it reached it."""
    example = MODELS[model].example
    reported = (f"{example['top1']:.2%} top-1 and {example['top5']:.1%} top-5 after 50 "
                "epochs with its own settings (64 x 64 inputs, 8 x 8 patches, width 256, "
                "its recipe)")  # fmt: skip
    ours = f"{result.test_top1:.2%} top-1 and {result.test_top5:.1%} top-5"
    if data.name == "offline":
        say(f"These are results on the offline stand-in (MNIST digits, 10 easy classes), "
            f"NOT on CIFAR-100: {ours} here say only that the model learns. On CIFAR-100 "
            f"the Keras example reports {reported}.")  # fmt: skip
        return
    verdict = "reached" if result.test_top1 >= example["top1"] else "did not reach"
    say(f"On CIFAR-100 ({len(data.x_train):,} training images, {result.epochs_run} epochs) "
        f"this run reached {ours}; the Keras example reports {reported}. So this run "
        f"{verdict} the example's top-1.")  # fmt: skip


def print_record(result):
    """Print the main lines of the run's results record (written, or read by loading)."""
    record = result.record
    print(f"results record: {record['model']}.json")
    print(
        f"dataset {record['dataset']['name']}, {record['epochs_run']} epochs, "
        f"{record['num_params']:,} parameters, {record['backend']} on {record['device']}"
    )
    print(f"test top-1 {record['test']['top1']:.4f}, top-5 {record['test']['top5']:.4f}, "
          f"loss {record['test']['loss']:.4f}")  # fmt: skip
