"""Training throughput (images/s) of the package's models against the example rebuild's.

    python benchmarks/throughput.py                          # example vs project, 3 models
    python benchmarks/throughput.py --suite xla              # XLA on/off (augmentation off)
    python benchmarks/throughput.py --models fnet --variants example project project+bf16
    KERAS_BACKEND=jax python benchmarks/throughput.py --suite jax

What is timed: the compiled Keras train step (``model.train_on_batch``, the same
``train_function`` that ``model.fit`` runs) on a few fixed synthetic uint8 batches
``(B, 32, 32, 3)``, with AdamW, sparse cross-entropy on logits and top-1/top-5 metrics
for every model, at the example's configuration by default (image 64, patch 8, width 256,
4 blocks, dropout 0.2, batch 128, flip + zoom inside the model).

How: each model family runs in a fresh Python process, so graphs, thread pools and global
flags cannot leak from one family into the next. Inside it every variant is built and
warmed up, then timed in rounds of ``--steps`` steps, interleaved ``A B C A B C ...`` with
the order rotated each round. On a shared CPU the load drifts over seconds, and adjacent
blocks see nearly the same load, so the per-round ratio to ``example`` is far steadier than
either throughput: read the ratio.

Variants are described in :mod:`variants`. FLOPs per image come from the package's
counter ``mlp_tutorial.flops`` (training = 3x forward); the float32 matmul peak is the
best 2048^3 product timed in the same process before and after the rounds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
MODELS = ("mixer", "fnet", "gmlp")
SUITES = {
    # The Mixer's default widths (D_S = D/2, D_C = 4D) do 7.7x the example's matmuls, so
    # the like-for-like row is project+examplewidths; `project` is what a reader builds.
    "core": {
        "mixer": ["example", "project+examplewidths", "project"],
        "fnet": ["example", "project+examplewidths"],
        "gmlp": ["example", "project+examplewidths"],
    },
    "xla": {
        m: ["example+noaug", "example+noaug+xla", "project+noaug", "project+noaug+xla"]
        for m in MODELS
    },
    "aug": {
        m: ["example", "example+noaug", "project", "project+noaug", "project+aug32"] for m in MODELS
    },
    "jax": {m: ["example", "project", "example+jitaug"] for m in MODELS},
    "bf16": {m: ["example", "project", "project+bf16"] for m in MODELS},
}
MARKER = "@@THROUGHPUT_JSON@@ "


# ----------------------------------------------------------------------------------------
# Worker: one model family in a fresh process
# ----------------------------------------------------------------------------------------
def load_package():
    """The working tree's ``mlp_tutorial``, whatever pip installed."""
    sys.path.insert(1, str(REPO))
    import mlp_tutorial
    import mlp_tutorial.flops  # noqa: F401

    return mlp_tutorial


def _peak_matmul_gflops(n=2048, tries=5):
    """Best float32 ``(n, n) @ (n, n)`` rate of the active backend, in GFLOP/s."""
    import keras
    import numpy as np

    a = keras.ops.convert_to_tensor(np.random.default_rng(0).standard_normal((n, n)), "float32")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        fn = tf.function(tf.matmul)
    elif keras.backend.backend() == "jax":
        import jax

        fn = jax.jit(lambda x, y: x @ y)
    else:
        fn = keras.ops.matmul
    keras.ops.convert_to_numpy(fn(a, a))
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(fn(a, a))  # waits for the result on every backend
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def compiled(model, jit):
    """``model`` compiled as every variant is: AdamW, cross-entropy on logits, top-1/5."""
    import warnings

    import keras

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Model doesn't support jit_compile=True": recorded
        model.compile(
            optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="top1"),
                keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"),
            ],
            jit_compile=jit,
        )
    return model


def build_all(spec, batches):
    """Build, compile and warm up every variant; returns ``{variant: model}`` and facts."""
    from variants import build_variant, forward_flops, parse_variant

    models, facts = {}, {}
    for variant in spec["variants"]:
        start = time.perf_counter()
        model = build_variant(spec["model"], variant, spec["geometry"])
        model = compiled(model, True if "xla" in parse_variant(variant)[1] else "auto")
        for i in range(spec["warmup"]):
            model.train_on_batch(*batches[i % len(batches)])
        models[variant] = model
        facts[variant] = dict(
            jit_compile=bool(model.jit_compile),
            params=int(model.count_params()),
            forward_flops=forward_flops(spec["model"], variant, spec["geometry"]),
            compile_and_warmup_s=time.perf_counter() - start,
        )
        print(f"[{spec['model']}] built and warmed {variant}", file=sys.stderr, flush=True)
    return models, facts


def time_rounds(models, batches, rounds, steps):
    """Images per wall-second and per process-CPU-second, one sample per round."""
    wall = {v: [] for v in models}
    cpu = {v: [] for v in models}
    names, step = list(models), 0
    for r in range(rounds):
        for variant in names[r % len(names) :] + names[: r % len(names)]:
            start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(steps):
                models[variant].train_on_batch(*batches[step % len(batches)])
                step += 1
            images = steps * len(batches[0][0])
            wall[variant].append(images / (time.perf_counter() - start))
            cpu[variant].append(images / (time.process_time() - cpu_start))
    return wall, cpu


def worker(spec):
    """Time ``spec["variants"]`` of ``spec["model"]``; returns a JSON-able dict."""
    import keras
    import numpy as np

    load_package()
    keras.utils.set_random_seed(0)
    if spec["deterministic"] and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(0)
    size, classes = spec["batch_size"], spec["geometry"]["num_classes"]
    batches = [
        (rng.integers(0, 256, (size, 32, 32, 3), np.uint8), rng.integers(0, classes, (size,)))
        for _ in range(spec["num_batches"])
    ]
    peaks = [_peak_matmul_gflops()]
    load = [os.getloadavg()[0]]
    models, facts = build_all(spec, batches)
    wall, cpu = time_rounds(models, batches, spec["repeats"], spec["steps"])
    peaks.append(_peak_matmul_gflops())
    load.append(os.getloadavg()[0])
    return dict(
        model=spec["model"],
        wall=wall,
        cpu=cpu,
        facts=facts,
        peak_matmul_gflops=peaks,
        loadavg_1min=load,
    )


# ----------------------------------------------------------------------------------------
# Orchestrator
# ----------------------------------------------------------------------------------------
def run_worker(spec):
    """Run one family's worker in a fresh process; its result dict, or None if it failed."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode or not lines:
        print(proc.stdout[-4000:], file=sys.stderr)
        print(f"!! worker for {spec['model']} failed (exit {proc.returncode})", flush=True)
        return None
    return json.loads(lines[-1][len(MARKER) :])


def summarize(result, peak):
    """One row per variant: median img/s, paired ratios to ``example``, FLOPs, % of peak."""
    wall, cpu = result["wall"], result["cpu"]
    reference = next((v for v in wall if v.startswith("example")), next(iter(wall)))
    rows = []
    for variant, values in wall.items():
        ratios = [v / s for v, s in zip(values, wall[reference], strict=True)]
        cpu_ratios = [v / s for v, s in zip(cpu[variant], cpu[reference], strict=True)]
        facts = result["facts"][variant]
        achieved = statistics.median(values) * 3 * facts["forward_flops"] / 1e9
        rows.append(
            dict(
                model=result["model"],
                variant=variant,
                images_per_s=statistics.median(values),
                ratio_vs=reference,
                ratio_median=statistics.median(ratios),
                ratio_min=min(ratios),
                ratio_max=max(ratios),
                cpu_ratio_median=statistics.median(cpu_ratios),
                forward_mflop_per_image=facts["forward_flops"] / 1e6,
                fraction_of_peak=achieved / peak,
                jit_compile=facts["jit_compile"],
                params=facts["params"],
            )
        )
    return rows


def print_table(rows, peak):
    """The rows as the Markdown table of ``benchmarks/README.md``."""
    print("| model | variant | img/s | × example (paired median, range) | × example, CPU time "
          "| fwd MFLOP/img | % of peak | jit |")  # fmt: skip
    print("|---|---|--:|--:|--:|--:|--:|:-:|")
    for r in rows:
        print(
            f"| {r['model']} | `{r['variant']}` | {r['images_per_s']:.0f} "
            f"| **{r['ratio_median']:.2f}** ({r['ratio_min']:.2f}–{r['ratio_max']:.2f}) "
            f"| {r['cpu_ratio_median']:.2f} | {r['forward_mflop_per_image']:.1f} "
            f"| {100 * r['fraction_of_peak']:.0f} | {'yes' if r['jit_compile'] else 'no'} |"
        )
    print(f"\nfloat32 matmul peak (best 2048^3 product in this run): {peak:.0f} GFLOP/s")


def plan_variants(args):
    """``{model: [variant, ...]}`` from ``--suite`` / ``--variants``, each checked."""
    from variants import check_variant

    plan = {}
    for model in args.models:
        variants = args.variants or SUITES[args.suite].get(model, [])
        for variant in variants:
            check_variant(model, variant)
        if variants:
            plan[model] = list(variants)
    return plan


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--suite", default="core", choices=sorted(SUITES))
    parser.add_argument("--variants", nargs="+", help="variants to time (instead of --suite)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per variant")
    parser.add_argument("--steps", type=int, default=5, help="train steps per timed block")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after building")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--num-batches", type=int, default=4, help="distinct synthetic batches")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--patch-size", type=int, default=8)
    parser.add_argument("--embedding-dim", type=int, default=256)
    parser.add_argument("--num-blocks", type=int, default=4)
    parser.add_argument("--dropout-rate", type=float, default=0.2)
    parser.add_argument("--num-classes", type=int, default=100)
    parser.add_argument(
        "--deterministic", action="store_true", help="TF op determinism, as run_experiment sets"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON record (default results/throughput.json for the core suite; "
        "throughput_<suite>.json otherwise)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def default_output(args):
    core = args.suite == "core" and not args.variants
    return RESULTS / ("throughput.json" if core else f"throughput_{args.suite}.json")


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(MARKER + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    plan = plan_variants(args)
    if not plan:
        raise SystemExit(f"suite {args.suite!r} has no variants for models {args.models}")
    geometry = dict(
        image_size=args.image_size, patch_size=args.patch_size, embedding_dim=args.embedding_dim,
        num_blocks=args.num_blocks, dropout_rate=args.dropout_rate, num_classes=args.num_classes,
    )  # fmt: skip
    started, results = time.perf_counter(), []
    for model, variants in plan.items():
        print(f"== {model}: {', '.join(variants)}", flush=True)
        spec = dict(
            model=model, variants=variants, geometry=geometry, batch_size=args.batch_size,
            repeats=args.repeats, steps=args.steps, warmup=args.warmup,
            num_batches=args.num_batches, deterministic=args.deterministic,
        )  # fmt: skip
        results.append(run_worker(spec))
    done = [r for r in results if r]
    if not done:
        raise SystemExit("every worker failed")
    peak = max(p for r in done for p in r["peak_matmul_gflops"])
    rows = [row for r in done for row in summarize(r, peak)]
    print()
    print_table(rows, peak)
    record = dict(
        config=dict(geometry, batch_size=args.batch_size),
        protocol=dict(
            repeats=args.repeats,
            steps=args.steps,
            warmup=args.warmup,
            num_batches=args.num_batches,
            deterministic=args.deterministic,
        ),
        failed_models=[m for m, r in zip(plan, results, strict=True) if r is None],
        peak_matmul_gflops=peak,
        rows=rows,
        workers=done,
        wall_s=time.perf_counter() - started,
    )
    from record import write

    output = write(args.output or default_output(args), record)
    print(f"wrote {output} ({record['wall_s']:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
