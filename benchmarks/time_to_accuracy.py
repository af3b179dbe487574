"""Training time on this machine until CIFAR-100 test top-1 reaches the Keras example's.

    python benchmarks/time_to_accuracy.py --model mixer             # one run, its record
    python benchmarks/time_to_accuracy.py --model gmlp --recipe +label_smoothing \\
        --batch-size 256 --learning-rate 2e-3 --name gmlp_b256       # other settings
    python benchmarks/time_to_accuracy.py --report                  # table + figure of all

The metric (issue 14): the training seconds until test top-1 on CIFAR-100 first reaches
the example's published 50-epoch result (Mixer 47.58%, FNet 46.63%, gMLP 50.64%). The
example's time to the same number is 50 epochs x 45,000 training images / its images per
second, which this script measures on the example rebuild (``example_models.py``, at the
example's image 64, patch 8, width 256, batch 128) in the same process, before and after
training. Ratio = the example's time / ours.

What is timed: each epoch's training steps (``model.fit``'s batches, the input pipeline
included), from the epoch's start to its last batch. The validation split, the test
evaluation after every epoch and the example's measurement are not training and are not
counted. The example rebuild is timed on in-memory batches (``throughput.time_rounds``),
without the example's input pipeline: if anything, that flatters the example.

Training goes through ``mlp_tutorial.run_experiment``, so the chapters can use the winning
settings as they are: the recipe, the 10% validation split, ``checkpoint_dir`` resume (an
interrupted run continues exactly where it stopped: rerun the same command). Early stopping
is off; the run stops at the target or at ``--epochs``.

Record: ``results/time_to_accuracy_<name>.json`` in the repository's top-level ``results/``,
beside the chapters' records (chapter 05 reads them), with the provenance (command, commit,
CPU model and flags, backend, versions), the settings, precision, per-epoch training
seconds and test accuracies, and the example's measured images per second
(``example_images_per_second``; records made before issue 28 call it
``seed_images_per_second``). The figure of ``--report`` goes to
``benchmarks/results/time_to_accuracy.png``.
"""

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import mlp_tutorial.classifier
from mlp_tutorial.augment import AUGMENTATIONS
from mlp_tutorial.parameters import PARAMETERS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RECORDS = REPO / "results"  # the records, beside the chapters' (chapter 05 reads them)
FIGURE = HERE / "results" / "time_to_accuracy.png"
CHECKPOINTS = HERE / "checkpoints"  # git-ignored: the backups of unfinished runs
SAMPLES_FILE = "example_images_per_second.json"  # in a backup: the example's images/s so far
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar-100-python.tar.gz"
MODELS = mlp_tutorial.classifier.MODEL_NAMES
# The Keras example's test top-1 after 50 epochs, and its training images per epoch.
TARGETS = {m: mlp_tutorial.classifier.MODELS[m].example["top1"] for m in MODELS}
EXAMPLE_EPOCHS, EXAMPLE_TRAIN_IMAGES = 50, 45_000
WIDTHS = mlp_tutorial.classifier.WIDTHS
PRECISIONS = ("float32", "mixed_bfloat16")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS)
    parser.add_argument("--report", action="store_true", help="table and figure of all records")
    parser.add_argument("--name", help="record and checkpoint name (default: the model's)")
    parser.add_argument("--data-path", type=Path, help=f"CIFAR-100 (default {DEFAULT_DATA})")
    parser.add_argument("--train-limit", type=int, help="class-balanced subset (smoke runs)")
    parser.add_argument("--epochs", type=int, default=50, help="epoch budget")
    parser.add_argument("--target", type=float, help="test top-1 to reach (default: example's)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=4)
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--num-blocks", type=int, default=4)
    parser.add_argument("--dropout-rate", type=float, default=0.2)
    parser.add_argument(
        "--width", action="append", default=[], metavar="NAME=N",
        help=f"a hidden width for build_model, NAME in {', '.join(WIDTHS)}",
    )  # fmt: skip
    parser.add_argument("--recipe", default="example", help="a name from mlp_tutorial.RECIPES")
    parser.add_argument(
        "--augmentation", choices=AUGMENTATIONS, help="build_model's (default: the recipe's)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, help="default: the example's for the model")
    parser.add_argument(
        "--weight-decay", type=float, default=PARAMETERS["weight_decay"].example,
        help="default: the example's",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    parser.add_argument(
        "--example-rounds", type=int, default=5, help="timed rounds of the example rebuild"
    )
    parser.add_argument("--example-steps", type=int, default=5, help="steps per example round")
    parser.add_argument("--checkpoint-dir", type=Path, help="default checkpoints/<name>")
    parser.add_argument(
        "--output", type=Path, help="default <repository>/results/time_to_accuracy_<name>.json"
    )
    args = parser.parse_args(argv)
    if args.report:
        return args
    if args.model is None:
        parser.error("--model is required (or --report)")
    args.widths = {}
    for item in args.width:
        key, _, value = item.partition("=")
        if key not in WIDTHS or not value.isdigit():
            parser.error(f"--width {item!r}: expected NAME=N with NAME in {', '.join(WIDTHS)}")
        args.widths[key] = int(value)
    args.data_path = (args.data_path or DEFAULT_DATA).expanduser().resolve()
    if not args.data_path.exists():
        parser.error(f"no CIFAR-100 at {args.data_path}: pass --data-path /absolute/path")
    args.name = args.name or args.model
    args.target = TARGETS[args.model] if args.target is None else args.target
    args.checkpoint_dir = args.checkpoint_dir or CHECKPOINTS / args.name
    args.output = args.output or RECORDS / f"time_to_accuracy_{args.name}.json"
    return args


def settings_of(args):
    """Everything that defines a run (a record is refused for other settings)."""
    from example_models import EXAMPLE_LEARNING_RATES

    keys = ("model", "train_limit", "epochs", "target", "image_size", "patch_size",
            "embedding_dim", "num_blocks", "dropout_rate", "widths", "recipe", "batch_size",
            "weight_decay", "seed", "precision")  # fmt: skip
    settings = {key: getattr(args, key) for key in keys}
    if args.augmentation is not None:  # records before the flag existed have no key
        settings["augmentation"] = args.augmentation
    settings["learning_rate"] = args.learning_rate or EXAMPLE_LEARNING_RATES[args.model]
    return settings


# ----------------------------------------------------------------------------------------
# The two measurements: the example's images per second, and our epochs
# ----------------------------------------------------------------------------------------
def example_images_per_second(model_name, rounds, steps, batch_size=128):
    """Median training images per second of the example rebuild at the example's settings."""
    import keras
    import numpy as np
    from example_models import build_example_model
    from throughput import compiled, time_rounds

    rng = np.random.default_rng(0)
    batches = [
        (rng.integers(0, 256, (batch_size, 32, 32, 3), np.uint8), rng.integers(0, 100, batch_size))
        for _ in range(4)
    ]
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")  # the example's precision
    try:
        model = compiled(build_example_model(model_name, **mlp_tutorial.classifier.EXAMPLE), "auto")
    finally:
        keras.config.set_dtype_policy(policy)
    for batch in batches[:3]:  # compile and warm up
        model.train_on_batch(*batch)
    wall, _ = time_rounds({"example": model}, batches, rounds, steps)
    return wall["example"]


def test_callback(x_test, y_test, target):
    """A callback that, after every epoch, logs the test top-1/top-5 and prints them with
    the epoch's training seconds (``train_seconds``, which the package's ``EpochLog``,
    earlier in the list, logs), and stops training once test top-1 reaches ``target``.
    It also logs ``test_top1_flip``: the top-1 of the mean softmax of each image and its
    mirror image (test-time flip), which does not stop the run."""
    import keras
    import numpy as np

    def softmax(logits):
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    class TestEveryEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            start = time.perf_counter()
            logits = np.asarray(self.model.predict(x_test, batch_size=500, verbose=0), "float32")
            top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
            logs["test_top1"] = float(np.mean(top5[:, 0] == y_test))
            logs["test_top5"] = float(np.mean((top5 == y_test[:, None]).any(axis=1)))
            mirror = np.ascontiguousarray(x_test[:, :, ::-1])  # (N, H, W, C): W reversed
            mirrored = self.model.predict(mirror, batch_size=500, verbose=0)
            both = softmax(logits) + softmax(np.asarray(mirrored, "float32"))
            logs["test_top1_flip"] = float(np.mean(both.argmax(axis=1) == y_test))
            logs["test_seconds"] = time.perf_counter() - start
            print(
                f"  epoch {epoch + 1}: test top-1 {logs['test_top1']:.4f} "
                f"(flip {logs['test_top1_flip']:.4f}), {logs['train_seconds']:.0f} s training",
                flush=True,
            )
            if logs["test_top1"] >= target:
                self.model.stop_training = True

    return TestEveryEpoch()


def train(args, settings, dataset):
    """Build and train the model through run_experiment; returns its Result."""
    import keras

    import mlp_tutorial
    from mlp_tutorial.recipe import get_recipe

    keras.config.set_dtype_policy(args.precision)
    mlp_tutorial.set_seed(args.seed)
    recipe = get_recipe(args.recipe)
    model = mlp_tutorial.build_model(
        args.model, image_size=args.image_size, patch_size=args.patch_size,
        embedding_dim=args.embedding_dim, num_blocks=args.num_blocks,
        dropout_rate=args.dropout_rate, augmentation=args.augmentation or recipe.augmentation,
        **args.widths,
    )  # fmt: skip
    return mlp_tutorial.run_experiment(
        model, dataset, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=settings["learning_rate"], weight_decay=args.weight_decay,
        seed=args.seed, recipe=args.recipe, precision=args.precision,
        early_stopping_patience=None,  # train to the target or the budget, never stop early
        checkpoint_dir=args.checkpoint_dir,
        extra_callbacks=[test_callback(dataset.x_test, dataset.y_test, args.target)],
    )  # fmt: skip


# ----------------------------------------------------------------------------------------
# The record
# ----------------------------------------------------------------------------------------
def summarize(history, example_samples, target):
    """Per-epoch rows, the epoch and minutes at which ``target`` was reached, the ratio."""
    names = ("train_seconds", "test_top1", "test_top5", "test_seconds", "loss", "val_top1")
    optional = ("top1", "val_loss", "learning_rate", "test_top1_flip")
    names += tuple(n for n in optional if n in history)
    rows = zip(*(history[name] for name in names), strict=True)
    epochs = [dict(zip(names, row, strict=True)) for row in rows]
    elapsed = 0.0
    for epoch in epochs:
        elapsed += epoch["train_seconds"]
        epoch["train_minutes_total"] = elapsed / 60
    example_ips = statistics.median(example_samples)
    example_minutes = EXAMPLE_EPOCHS * EXAMPLE_TRAIN_IMAGES / example_ips / 60
    reached = next((i for i, e in enumerate(epochs) if e["test_top1"] >= target), None)
    ours = None if reached is None else epochs[reached]["train_minutes_total"]
    return dict(
        epochs=epochs,
        best_test_top1=max(e["test_top1"] for e in epochs),
        best_test_top1_flip=max((e.get("test_top1_flip", 0.0) for e in epochs), default=None),
        reached_epoch=None if reached is None else reached + 1,
        minutes_to_target=ours,
        example_images_per_second=example_ips,
        example_minutes=example_minutes,
        ratio=None if ours is None else example_minutes / ours,
    )


def load_example_samples(folder, this_cpu):
    """The example's images/s measured by the earlier sessions of the run backed up in
    ``folder``, which must have run on this CPU: per-epoch seconds from two machines would
    not add up to one time. Backups made before issue 28 name the file after the seed."""
    path = folder / SAMPLES_FILE
    if not path.is_file():
        path = folder / "seed_images_per_second.json"
    if not path.is_file():
        return []
    saved = json.loads(path.read_text())
    if saved["cpu"] != this_cpu:
        raise SystemExit(
            f"the backup in {path.parent} was trained on {saved['cpu']}, this machine is "
            f"{this_cpu}: delete that folder to start the run again here"
        )
    return saved["samples"]


def run(args):
    import record

    from mlp_tutorial import load_dataset

    settings = settings_of(args)
    if args.output.exists():
        done = json.loads(args.output.read_text())
        if done["settings"] != settings:
            raise SystemExit(f"{args.output} holds a run with other settings: use another --name")
        print(f"{args.output} is done: {done['summary']['ratio']=}")
        return 0
    dataset = load_dataset("cifar100", path=args.data_path, train_limit=args.train_limit)
    print(dataset.source, flush=True)
    # The example's samples of every session of this run, kept beside its backup.
    this_cpu = record.cpu()
    samples = load_example_samples(args.checkpoint_dir, this_cpu)
    samples += example_images_per_second(args.model, args.example_rounds, args.example_steps)
    args.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    samples_file = args.checkpoint_dir / SAMPLES_FILE
    samples_file.write_text(json.dumps({"cpu": this_cpu, "samples": samples}))
    print(f"example rebuild: {statistics.median(samples):.0f} images/s", flush=True)
    result = train(args, settings, dataset)
    samples += example_images_per_second(args.model, args.example_rounds, args.example_steps)
    history = {**result.history, "train_seconds": result.epoch_seconds}
    summary = summarize(history, samples, args.target)
    record.write(
        args.output,
        dict(name=args.name, settings=settings, data_source=dataset.source,
             num_params=result.num_params,
             example_images_per_second_samples=samples, summary=summary),
    )  # fmt: skip
    shutil.rmtree(args.checkpoint_dir)  # the record holds the run now: drop its backup
    print_summary([json.loads(args.output.read_text())])
    return 0


# ----------------------------------------------------------------------------------------
# Report: every record as a table and one figure
# ----------------------------------------------------------------------------------------
def print_summary(records):
    """The records as the Markdown table of ``benchmarks/README.md``."""
    print("| record | model | epochs to target | minutes | example's minutes | ratio "
          "| best top-1 % | command |")  # fmt: skip
    print("|---|---|--:|--:|--:|--:|--:|---|")
    for r in records:
        s = r["summary"]
        if s["reached_epoch"] is None:
            reached = f"not in {len(s['epochs'])} | –"
            ratio = "–"
        else:
            reached = f"{s['reached_epoch']} | {s['minutes_to_target']:.1f}"
            ratio = f"{s['ratio']:.2f}x"
        print(
            f"| {r['name']} | {r['settings']['model']} | {reached} | {s['example_minutes']:.0f} "
            f"| {ratio} | {100 * s['best_test_top1']:.2f} | `{r['provenance']['command']}` |"
        )


def report():
    """Print the table of all records and draw ``benchmarks/results/time_to_accuracy.png``."""
    import matplotlib

    matplotlib.use("Agg")
    from mlp_tutorial.plots import plot_time_to_accuracy

    files = sorted(RECORDS.glob("time_to_accuracy_*.json"))
    if not files:
        raise SystemExit(f"no records in {RECORDS}: run with --model first")
    records = [json.loads(f.read_text()) for f in files]
    print_summary(records)
    epochs = {r["name"]: r["summary"]["epochs"] for r in records}
    fig = plot_time_to_accuracy(
        {name: [e["train_minutes_total"] for e in es] for name, es in epochs.items()},
        {name: [e["test_top1"] for e in es] for name, es in epochs.items()},
        example={
            r["name"]: (r["summary"]["example_minutes"], r["settings"]["target"]) for r in records
        },
        title="CIFAR-100: test top-1 against training minutes on this CPU",
    )
    fig.savefig(FIGURE, dpi=100)
    print(f"wrote {FIGURE}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    return report() if args.report else run(args)


if __name__ == "__main__":
    raise SystemExit(main())
