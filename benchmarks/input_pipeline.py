"""What the training loop costs beyond the train step: ``fit`` on the package's batches
against ``fit`` on arrays and a bare ``train_on_batch`` loop, one model, real CIFAR-100.

    python benchmarks/input_pipeline.py --model gmlp            # the chapters' CPU settings

The time-to-accuracy runs (issue 14) train at about 557 images/s where ``throughput.py``
times the same gMLP's train step at about 683. This script finds where the difference goes.
Variants, each the same compiled model and the same batches of 128 images:

- ``fit(EpochBatches)+callbacks``: what ``run_experiment`` does (the package's ``PyDataset``,
  which Keras feeds through ``tf.data.Dataset.from_generator``, with ``EpochSeeds`` and
  ``EpochLog``);
- ``fit(EpochBatches)``: the same without callbacks;
- ``fit(arrays)``: Keras' own pipeline for in-memory arrays, shuffled by Keras;
- ``train_on_batch``: the step alone, on batches already in memory (``throughput.py``'s way).

Each is timed as ``fit`` runs of ``--short`` and ``--long`` steps, in interleaved rounds;
images per second = the extra steps' images / the extra seconds, so start-up (tracing,
building the pipeline) cancels out. Record: ``results/input_pipeline_<model>.json``.
"""

import argparse
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cifar-100-python.tar.gz"
VARIANTS = ("fit(EpochBatches)+callbacks", "fit(EpochBatches)", "fit(arrays)", "train_on_batch")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("mixer", "fnet", "gmlp"), default="gmlp")
    parser.add_argument("--data-path", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--short", type=int, default=15, help="steps of the short run")
    parser.add_argument("--long", type=int, default=75, help="steps of the long run")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    args.output = args.output or HERE / "results" / f"input_pipeline_{args.model}.json"
    return args


def build(model_name):
    """The model at the chapters' CPU settings, compiled as ``run_experiment`` compiles it."""
    import keras

    import mlp_tutorial
    from mlp_tutorial.classifier import WIDTHS
    from mlp_tutorial.parameters import CPU_SETTINGS
    from mlp_tutorial.recipe import get_recipe

    settings = dict(CPU_SETTINGS[model_name])
    keras.config.set_dtype_policy(settings.pop("precision"))
    recipe = get_recipe(settings["recipe"])
    widths = {k: settings[k] for k in WIDTHS if k in settings}
    model = mlp_tutorial.build_model(
        model_name, image_size=settings["image_size"], patch_size=settings["patch_size"],
        embedding_dim=settings["embedding_dim"], num_blocks=settings["num_blocks"],
        dropout_rate=settings["dropout_rate"], augmentation=recipe.augmentation, **widths,
    )  # fmt: skip
    return model, recipe, settings


def timers(model, x, y, batch_size, seed):
    """One function per variant: ``steps`` -> seconds of a run of that many steps."""
    import numpy as np

    from mlp_tutorial.training import EpochBatches, EpochLog, EpochSeeds

    def fit_batches(callbacks):
        def run(steps):
            batches = EpochBatches(x, y, batch_size, seed)
            extra = [EpochSeeds(seed), EpochLog(1, steps * batch_size, lambda _: None)]
            start = time.perf_counter()
            model.fit(batches, steps_per_epoch=steps, epochs=1, shuffle=False,
                      callbacks=extra if callbacks else [], verbose=0)  # fmt: skip
            return time.perf_counter() - start

        return run

    def fit_arrays(steps):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, steps_per_epoch=steps, epochs=1, verbose=0)
        return time.perf_counter() - start

    batches = EpochBatches(x, y, batch_size, seed)
    in_memory = [batches[i] for i in range(8)]

    def step_loop(steps):
        start = time.perf_counter()
        for i in range(steps):
            model.train_on_batch(*in_memory[i % len(in_memory)])
        np.asarray(model.optimizer.iterations)  # wait for the last step
        return time.perf_counter() - start

    runs = (fit_batches(True), fit_batches(False), fit_arrays, step_loop)
    return dict(zip(VARIANTS, runs, strict=True))


def main(argv=None):
    args = parse_args(argv)
    import keras
    import record

    import mlp_tutorial
    from mlp_tutorial.augment import adapt_normalization
    from mlp_tutorial.recipe import compile_model
    from mlp_tutorial.training import split_validation

    dataset = mlp_tutorial.load_dataset("cifar100", path=args.data_path.resolve())
    model, recipe, settings = build(args.model)
    x, y, _, _ = split_validation(dataset.x_train, dataset.y_train, 0.1, seed=0)
    if recipe.one_hot:  # label smoothing needs one-hot targets, as run_experiment makes them
        y = keras.utils.to_categorical(y, dataset.num_classes).astype("float32")
    batch_size = settings["batch_size"]
    adapt_normalization(model, x)
    compile_model(model, learning_rate=settings["learning_rate"], recipe=recipe,
                  weight_decay=settings["weight_decay"], total_steps=10_000)  # fmt: skip
    runs = timers(model, x, y, batch_size, seed=0)
    for run in runs.values():  # trace every function once before timing
        run(2)
    samples = {name: [] for name in runs}
    for r in range(args.rounds):
        for name, run in runs.items():
            extra = run(args.long) - run(args.short)
            samples[name].append((args.long - args.short) * batch_size / extra)
            print(f"round {r + 1}: {name:<28} {samples[name][-1]:6.0f} images/s", flush=True)
    rows = [dict(variant=name, images_per_s=statistics.median(s), samples=s)
            for name, s in samples.items()]  # fmt: skip
    print("\n| variant | images/s (median) | of train_on_batch |\n|---|--:|--:|")
    floor = rows[-1]["images_per_s"]
    for row in rows:
        ips = row["images_per_s"]
        print(f"| `{row['variant']}` | {ips:.0f} | {ips / floor:.2f} |")
    protocol = dict(rounds=args.rounds, short=args.short, long=args.long, batch_size=batch_size)
    result = dict(model=args.model, settings=settings, protocol=protocol, rows=rows)
    record.write(args.output, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
