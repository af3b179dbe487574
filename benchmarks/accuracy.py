"""Test accuracy on CIFAR-100 of the package's design choices, and of the example rebuild.

    python benchmarks/accuracy.py --decision mixer-final-norm    # pre-head LayerNorm or not
    python benchmarks/accuracy.py --decision fnet-position-init  # Glorot vs normal(0, 0.02)
    python benchmarks/accuracy.py --decision hidden-widths       # FNet D vs 4D, gMLP 2D vs 6D
    python benchmarks/accuracy.py --decision example-vs-project  # all three, equal epochs
    python benchmarks/accuracy.py --models gmlp --variants project project+ffn6 \\
        --output benchmarks/results/accuracy_gmlp.json           # any set (see variants.py)

Data: CIFAR-100 from ``--data-path`` (default: ``shared/data/cifar-100-python.tar.gz``
beside the checkout); there is no fallback to another data set. ``--train-limit N`` keeps
a class-balanced subset of N training images, the same one in every run; the test split
is always the full 10,000 images.

Protocol, identical for every variant and seed: ``keras.utils.set_random_seed(seed)``
before building; the Normalization layer adapted on the training split; the example's
recipe (AdamW with the example's per-model learning rate, weight decay 1e-4, batch 128, no
schedule, no validation split, no early stopping, so "equal epochs" is exact); the
training images in the order of a permutation drawn from ``(seed, epoch)``; test top-1
and top-5 after every epoch. Training and evaluation are timed apart, in wall and
process-CPU seconds.

Resuming: the record is rewritten after every finished (model, variant, seed) run; a
rerun with the same ``--output`` skips the runs it holds. It refuses to continue a record
made with other settings (data, sizes, epochs) or with other code (a file of the package
or of these scripts that a finished run used has changed): start a new ``--output``.
"""

import argparse
import hashlib
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar-100-python.tar.gz"
MODELS = ("mixer", "fnet", "gmlp")
DECISIONS = {
    "mixer-final-norm": {"mixer": ["project+finalnorm", "project+nofinalnorm"]},
    "fnet-position-init": {"fnet": ["project+posglorot", "project+posnormal"]},
    "hidden-widths": {
        "fnet": ["project+ffn1", "project+ffn4"],
        "gmlp": ["project+ffn2", "project+ffn6"],
    },
    "example-vs-project": {m: ["example", "project"] for m in MODELS},
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--decision", choices=sorted(DECISIONS))
    choice.add_argument("--variants", nargs="+", help="variants for every model in --models")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument(
        "--data-path", type=Path, help=f"CIFAR-100 archive (default {DEFAULT_DATA})"
    )
    parser.add_argument("--train-limit", type=int, help="class-balanced training subset size")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=4)
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--num-blocks", type=int, default=4)
    parser.add_argument("--dropout-rate", type=float, default=0.2)
    parser.add_argument("--deterministic", action="store_true", help="TF op determinism")
    parser.add_argument(
        "--output", type=Path, help="record (default results/accuracy_<decision>.json)"
    )
    args = parser.parse_args(argv)
    if args.data_path is None:
        if not DEFAULT_DATA.is_file():
            parser.error(f"no CIFAR-100 at {DEFAULT_DATA}: pass --data-path /absolute/path")
        args.data_path = DEFAULT_DATA
    args.data_path = args.data_path.expanduser().resolve()
    if not args.data_path.exists():
        parser.error(f"--data-path {args.data_path} does not exist")
    if args.output is None:
        if args.variants:
            parser.error("--variants needs --output (the decisions have default records)")
        args.output = RESULTS / f"accuracy_{args.decision}.json"
    return args


def plan_runs(args):
    """``[(model, variant, seed), ...]`` in the order they are trained, each checked."""
    from variants import check_variant

    if args.decision:
        chosen = {m: v for m, v in DECISIONS[args.decision].items() if m in args.models}
    else:
        chosen = {m: args.variants for m in args.models}
    for model, variants in chosen.items():
        for variant in variants:
            check_variant(model, variant)
    # Seed-major: after any interrupted session, every variant has the same seeds done.
    return [(m, v, s) for s in args.seeds for m, vs in chosen.items() for v in vs]


# ----------------------------------------------------------------------------------------
# One run
# ----------------------------------------------------------------------------------------
def build_compiled(model_name, variant, dataset, geometry):
    """The variant, its Normalization adapted, compiled with the example's recipe."""
    import keras
    from example_models import EXAMPLE_LEARNING_RATES, EXAMPLE_WEIGHT_DECAY
    from variants import build_variant

    from mlp_tutorial.augment import adapt_normalization

    model = build_variant(model_name, variant, geometry)
    adapt_normalization(model, dataset.x_train)
    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=EXAMPLE_LEARNING_RATES[model_name], weight_decay=EXAMPLE_WEIGHT_DECAY
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"),
        ],
    )
    return model


def train_one(model_name, variant, seed, dataset, args):
    """Train one (variant, seed) for ``args.epochs``; its record, with one entry per epoch."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    model = build_compiled(model_name, variant, dataset, geometry_of(args, dataset))
    epochs = []
    for epoch in range(args.epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(dataset.y_train))
        wall, cpu = time.perf_counter(), time.process_time()
        history = model.fit(
            dataset.x_train[order], dataset.y_train[order],
            batch_size=args.batch_size, epochs=epoch + 1, initial_epoch=epoch,
            shuffle=False, verbose=0,
        ).history  # fmt: skip
        train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
        wall = time.perf_counter()
        test = model.evaluate(
            dataset.x_test, dataset.y_test, batch_size=512, verbose=0, return_dict=True
        )
        epochs.append(
            dict(
                train_loss=history["loss"][-1],
                train_top1=history["top1"][-1],
                test_loss=test["loss"],
                test_top1=test["top1"],
                test_top5=test["top5"],
                train_wall_s=train_wall,
                train_cpu_s=train_cpu,
                eval_wall_s=time.perf_counter() - wall,
            )  # fmt: skip
        )
        print(
            f"  {model_name} {variant} seed {seed} epoch {epoch + 1}: test top-1 "
            f"{test['top1']:.4f}, {train_cpu:.0f} CPU-s",
            flush=True,
        )
    return dict(model=model_name, variant=variant, seed=seed, params=int(model.count_params()),
                test_top1=epochs[-1]["test_top1"], test_top5=epochs[-1]["test_top5"],
                epochs=epochs)  # fmt: skip


def geometry_of(args, dataset):
    return dict(
        image_size=args.image_size, patch_size=args.patch_size,
        embedding_dim=args.embedding_dim, num_blocks=args.num_blocks,
        dropout_rate=args.dropout_rate, num_classes=len(dataset.class_names),
    )  # fmt: skip


# ----------------------------------------------------------------------------------------
# Resuming: what a record was made with
# ----------------------------------------------------------------------------------------
def settings_of(args, dataset):
    """What every run of one record must share (compared on resume)."""
    return dict(
        data=dict(name=dataset.name, train=len(dataset.y_train), test=len(dataset.y_test),
                  train_limit=args.train_limit),
        geometry=geometry_of(args, dataset),
        epochs=args.epochs, batch_size=args.batch_size, deterministic=args.deterministic,
        recipe="example: AdamW(example learning rate, wd 1e-4), constant rate, no validation split",
    )  # fmt: skip


def code_fingerprint():
    """``{file: sha256}`` of the package modules loaded so far and of these scripts."""
    files = [
        Path(m.__file__)
        for n, m in list(sys.modules.items())
        if n.startswith("mlp_tutorial") and getattr(m, "__file__", None)
    ]
    files += [HERE / "accuracy.py", HERE / "variants.py", HERE / "example_models.py"]
    fingerprint = {}
    for file in sorted({f.resolve() for f in files}):
        name = f"{file.parent.name}/{file.name}"  # mlp_tutorial/mixer.py, benchmarks/...
        fingerprint[name] = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    return fingerprint


def previous_runs(output, settings):
    """The finished runs in ``output``; refuses a record made with other settings."""
    if not output.exists():
        return []
    record = json.loads(output.read_text())
    if record.get("settings") != settings:
        raise SystemExit(
            f"{output} was made with other settings:\n  {record.get('settings')}\n"
            f"now:\n  {settings}\nUse another --output (or delete it to start over)."
        )
    return record["runs"]


def check_same_code(runs, fingerprint):
    """Refuse to add runs to a record whose finished runs used other code."""
    for run in runs:
        changed = [f for f, h in run["code"].items() if fingerprint.get(f, h) != h]
        if changed:
            raise SystemExit(
                f"{', '.join(changed)} changed since the finished runs (commit "
                f"{run['commit']}): their results would not be comparable. "
                "Use another --output."
            )


# ----------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------
def summarize(runs):
    """Per (model, variant): test top-1 mean ± std over seeds, and CPU time per epoch."""
    rows = {}
    for run in runs:
        rows.setdefault((run["model"], run["variant"]), []).append(run)
    out = []
    for (model, variant), mine in rows.items():
        top1 = [r["test_top1"] for r in mine]
        cpu = [e["train_cpu_s"] for r in mine for e in r["epochs"]]
        curves = [[e["test_top1"] for e in r["epochs"]] for r in mine]
        out.append(
            dict(
                model=model,
                variant=variant,
                seeds=[r["seed"] for r in mine],
                test_top1_mean=statistics.fmean(top1),
                test_top1_std=statistics.stdev(top1) if len(top1) > 1 else None,
                test_top5_mean=statistics.fmean(r["test_top5"] for r in mine),
                train_cpu_s_per_epoch=statistics.fmean(cpu),
                test_top1_by_epoch=[statistics.fmean(c) for c in zip(*curves, strict=True)],
                params=mine[0]["params"],
            )  # fmt: skip
        )
    return out


def print_table(summary):
    """The summary as the Markdown table of ``benchmarks/README.md``."""
    print("| model | variant | seeds | test top-1, % (mean ± std) | top-5, % "
          "| CPU s / epoch | params |")  # fmt: skip
    print("|---|---|--:|--:|--:|--:|--:|")
    for s in summary:
        std = "–" if s["test_top1_std"] is None else f"{100 * s['test_top1_std']:.1f}"
        print(
            f"| {s['model']} | `{s['variant']}` | {len(s['seeds'])} "
            f"| {100 * s['test_top1_mean']:.1f} ± {std} | {100 * s['test_top5_mean']:.1f} "
            f"| {s['train_cpu_s_per_epoch']:.0f} | {s['params']:,} |"
        )


def main(argv=None):
    args = parse_args(argv)
    plan = plan_runs(args)
    import record

    from mlp_tutorial import load_dataset

    dataset = load_dataset("cifar100", path=args.data_path, train_limit=args.train_limit)
    print(dataset.source, flush=True)
    settings = settings_of(args, dataset)
    runs = previous_runs(args.output, settings)
    done = {(r["model"], r["variant"], r["seed"]) for r in runs}
    importlib.import_module("mlp_tutorial.classifier")  # the modules a model is built from
    check_same_code(runs, code_fingerprint())
    for model_name, variant, seed in plan:
        if (model_name, variant, seed) in done:
            continue
        run = train_one(model_name, variant, seed, dataset, args)
        fingerprint = code_fingerprint()  # now also every module the build imported
        check_same_code(runs, fingerprint)
        runs.append(dict(run, commit=record.commit(), cpu=record.cpu(), code=fingerprint))
        body = dict(settings=settings, data_source=dataset.source, runs=runs)
        record.write(args.output, dict(body, summary=summarize(runs)))
        print(f"wrote {args.output} ({len(runs)} runs)", flush=True)
    print_table(summarize(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
