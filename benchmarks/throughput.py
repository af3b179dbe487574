"""Training throughput (images/s) of the project's models against the seed's, side by side.

    python benchmarks/throughput.py                       # mixer, fnet, gmlp: seed vs project
    python benchmarks/throughput.py --suite xla           # XLA on/off (augmentation off)
    python benchmarks/throughput.py --models fnet --variants seed project project+dft
    KERAS_BACKEND=jax python benchmarks/throughput.py

What is timed: the compiled Keras train step (``model.train_on_batch``, the same
``train_function`` that ``model.fit`` runs) on a fixed set of synthetic uint8 batches
``(B, 32, 32, 3)``, with AdamW, sparse cross-entropy on logits and top-1/top-5 metrics
for every model, at the seed's configuration (image 64, patch 8, dim 256, 4 blocks,
dropout 0.2, batch 128, flip + zoom augmentation inside the model).

How: every model family (mixer, fnet, gmlp) runs in its own fresh Python process, so one
family's graphs, thread pools, allocator state and global flags (op determinism) cannot
leak into the next. Inside that process all variants are built and warmed up first, then
timed in rounds, ``--steps`` steps each, interleaved ``A B C A B C ...`` with the order
rotated every round. Interleaving pairs the variants in time: on a CPU shared with other
jobs the load drifts on the scale of seconds, and a block of A followed by a block of B
sees nearly the same load, so the per-round ratio B/A is far steadier than either
throughput. The table reports the median throughput over rounds and the median of the
per-round ratios to the ``seed`` variant.

FLOPs per image come from :mod:`flops` (matmuls only, training = 3x forward); the
float32 matmul peak is the best of several 2048x2048 @ 2048x2048 products timed in the
same process before and after the rounds, with the same backend.

Variants are written ``base[+modifier...]``: base ``seed`` (the Keras example rebuilt in
:mod:`seed_models`), ``project`` (``mlp_tutorial``; its Mixer built with the seed's
hidden widths, ``tokens_mlp_dim = channels_mlp_dim = num_patches``) or ``paper`` (the
project's Mixer with its default, paper widths). Modifiers are listed in
:mod:`variants`; ``seed`` accepts ``noaug`` and ``xla``.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

RESULTS = HERE / "results" / "throughput.json"
MODELS = ("mixer", "fnet", "gmlp")
SUITES = {
    "core": {
        "mixer": ["seed", "project", "paper"],
        "fnet": ["seed", "project"],
        "gmlp": ["seed", "project"],
    },
    "xla": {
        m: ["seed", "seed+noaug", "seed+noaug+xla", "project", "project+noaug", "project+noaug+xla"]
        for m in MODELS
    },
    "aug": {m: ["seed", "seed+noaug", "project", "project+noaug", "project+aug32"] for m in MODELS},
    "fourier": {"fnet": ["seed", "project", "project+dft", "project+dfthalf", "project+rfft"]},
    "tokens": {
        "mixer": ["seed", "project", "project+mm", "paper", "paper+mm"],
        "gmlp": ["seed", "project", "project+mm", "project+nosplit"],
    },
    "ablation": {
        "mixer": ["seed", "project", "project+fastdrop", "project+aug32"],
        "fnet": ["seed", "project", "project+fastdrop", "project+aug32"],
        "gmlp": ["seed", "project", "project+nosplit", "project+fastdrop", "project+aug32"],
    },
    "best": {
        "mixer": ["seed", "project", "project+fastdrop+aug32", "paper", "paper+fastdrop+aug32"],
        "fnet": ["seed", "project", "project+fastdrop+aug32"],
        "gmlp": ["seed", "project", "project+nosplit+fastdrop+aug32"],
    },
    "jax": {m: ["seed", "project", "seed+jitaug", "project+jitaug"] for m in MODELS},
    "bf16": {
        "mixer": ["seed", "project", "project+bf16", "paper", "paper+bf16"],
        "fnet": ["seed", "project", "project+bf16", "project+dft+bf16"],
        "gmlp": ["seed", "project", "project+bf16"],
    },
}
SEED_MODIFIERS = ("noaug", "xla", "jitaug")
MARKER = "@@THROUGHPUT_JSON@@ "


def parse_variant(text):
    """``"project+mm+aug32"`` -> ``("project", ("mm", "aug32"))``, validated."""
    from variants import PROJECT_MODIFIERS

    base, *mods = text.split("+")
    if base not in ("seed", "project", "paper"):
        raise ValueError(f"Variant {text!r}: base must be seed, project or paper.")
    allowed = SEED_MODIFIERS if base == "seed" else PROJECT_MODIFIERS
    bad = [m for m in mods if m not in allowed]
    if bad:
        raise ValueError(f"Variant {text!r}: unknown modifiers {bad}; allowed {allowed}.")
    return base, tuple(mods)


# ----------------------------------------------------------------------------------------
# Worker: one model family in a fresh process
# ----------------------------------------------------------------------------------------
def _peak_matmul_gflops(n=2048, tries=5):
    """Best float32 ``(n, n) @ (n, n)`` rate of the active backend, in GFLOP/s."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype("float32")
    b = rng.standard_normal((n, n)).astype("float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        a, b = tf.constant(a), tf.constant(b)
        fn = tf.function(tf.matmul)

        def run():
            return fn(a, b).numpy()

    elif backend == "jax":
        import jax

        a, b = jax.device_put(a), jax.device_put(b)
        fn = jax.jit(lambda x, y: x @ y)

        def run():
            return fn(a, b).block_until_ready()

    else:
        import keras.ops as ops

        a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)

        def run():
            return ops.convert_to_numpy(ops.matmul(a, b))

    run()
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def _build(model_name, variant, cfg):
    """Build and compile one variant; returns (model, effective jit_compile)."""
    import keras
    from seed_models import build_seed_model
    from variants import allow_jit, build_project_variant

    base, mods = parse_variant(variant)
    geometry = dict(
        image_size=cfg["image_size"],
        patch_size=cfg["patch_size"],
        embedding_dim=cfg["embedding_dim"],
        num_blocks=cfg["num_blocks"],
        dropout_rate=cfg["dropout_rate"],
        num_classes=cfg["num_classes"],
    )
    if base == "seed":
        model = build_seed_model(model_name, augmentation="noaug" not in mods, **geometry)
        if "jitaug" in mods:
            allow_jit(model)
    else:
        widths = "paper" if base == "paper" else "seed"
        model = build_project_variant(model_name, mods, widths=widths, **geometry)
    jit = True if "xla" in mods else "auto"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Model doesn't support jit_compile=True" is recorded
        model.compile(
            optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="top1"),
                keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"),
            ],
            jit_compile=jit,
        )
    return model, bool(model.jit_compile)


def worker(spec):
    """Time ``spec["variants"]`` of ``spec["model"]``; returns a JSON-able dict."""
    import keras
    import numpy as np

    cfg = spec["config"]
    if spec["deterministic"]:
        keras.utils.set_random_seed(0)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
    else:
        keras.utils.set_random_seed(0)
    load_start = os.getloadavg()
    rng = np.random.default_rng(0)
    batches = [
        (
            rng.integers(0, 256, size=(cfg["batch_size"], 32, 32, 3), dtype=np.uint8),
            rng.integers(0, cfg["num_classes"], size=(cfg["batch_size"],)),
        )
        for _ in range(spec["num_batches"])
    ]
    peaks = [_peak_matmul_gflops()]
    models, jit, compile_s, params = {}, {}, {}, {}
    for variant in spec["variants"]:
        start = time.perf_counter()
        model, jit[variant] = _build(spec["model"], variant, cfg)
        for i in range(spec["warmup"]):
            model.train_on_batch(*batches[i % len(batches)])
        compile_s[variant] = time.perf_counter() - start
        models[variant] = model
        params[variant] = int(model.count_params())
        print(
            f"[{spec['model']}] built + warmed {variant} in {compile_s[variant]:.1f}s "
            f"(jit_compile={jit[variant]})",
            file=sys.stderr,
            flush=True,
        )
    samples = {v: [] for v in spec["variants"]}
    cpu_samples = {v: [] for v in spec["variants"]}  # images per CPU-second of this process
    names = list(spec["variants"])
    step = 0
    for r in range(spec["repeats"]):
        order = names[r % len(names) :] + names[: r % len(names)]
        for variant in order:
            model = models[variant]
            start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(spec["steps"]):
                model.train_on_batch(*batches[step % len(batches)])
                step += 1
            seconds = time.perf_counter() - start
            samples[variant].append(spec["steps"] * cfg["batch_size"] / seconds)
            cpu_samples[variant].append(
                spec["steps"] * cfg["batch_size"] / (time.process_time() - cpu_start)
            )
    peaks.append(_peak_matmul_gflops())
    return dict(
        model=spec["model"],
        samples=samples,
        cpu_samples=cpu_samples,
        jit_compile=jit,
        compile_and_warmup_s=compile_s,
        params=params,
        peak_matmul_gflops=peaks,
        loadavg_start=load_start,
        loadavg_end=os.getloadavg(),
    )


# ----------------------------------------------------------------------------------------
# Orchestrator
# ----------------------------------------------------------------------------------------
def _environment(backend_note):
    import keras

    env = dict(
        backend=keras.backend.backend(),
        keras=keras.__version__,
        python=platform.python_version(),
        machine=platform.machine(),
        cpu=_cpu_name(),
        cpu_count=os.cpu_count(),
        note=backend_note,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    if env["backend"] == "tensorflow":
        import tensorflow as tf

        env["tensorflow"] = tf.__version__
    if env["backend"] == "jax":
        import jax

        env["jax"] = jax.__version__
    return env


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def summarize(result, cfg, peak):
    """Rows for one model family: medians, paired ratios vs ``seed``, FLOPs, efficiency."""
    from flops import forward_flops

    samples = result["samples"]
    reference = "seed" if "seed" in samples else next(iter(samples))
    rows = []
    for variant, values in samples.items():
        base, mods = parse_variant(variant)
        fwd = sum(
            forward_flops(
                result["model"],
                impl="seed" if base == "seed" else "project",
                modifiers=mods,
                widths="paper" if base == "paper" else "seed",
                image_size=cfg["image_size"],
                patch_size=cfg["patch_size"],
                embedding_dim=cfg["embedding_dim"],
                num_blocks=cfg["num_blocks"],
                num_classes=cfg["num_classes"],
            ).values()
        )
        median = statistics.median(values)
        ratios = [v / s for v, s in zip(values, samples[reference], strict=True)]
        achieved = median * 3 * fwd / 1e9
        rows.append(
            dict(
                model=result["model"],
                variant=variant,
                images_per_s=median,
                images_per_s_min=min(values),
                images_per_s_max=max(values),
                ratio_vs=reference,
                ratio_median=statistics.median(ratios),
                ratio_min=min(ratios),
                ratio_max=max(ratios),
                forward_mflop_per_image=fwd / 1e6,
                train_gflop_per_s=achieved,
                fraction_of_peak=achieved / peak,
                jit_compile=result["jit_compile"][variant],
                params=result["params"][variant],
                images_per_cpu_s=statistics.median(result["cpu_samples"][variant]),
                cpu_ratio_median=statistics.median(
                    v / s
                    for v, s in zip(
                        result["cpu_samples"][variant],
                        result["cpu_samples"][reference],
                        strict=True,
                    )
                ),
                samples=values,
            )
        )
    return rows


def print_table(rows, peak):
    header = (
        f"{'model':6s} {'variant':34s} {'img/s':>6s} {'(min-max)':>11s} {'x seed':>6s} "
        f"{'(min-max)':>11s} {'img/cpu-s':>9s} {'x seed':>6s} {'MFLOP/img':>9s} "
        f"{'GFLOP/s':>7s} {'%peak':>5s} {'jit':>3s}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['model']:6s} {r['variant']:34s} {r['images_per_s']:6.0f} "
            f"{r['images_per_s_min']:5.0f}-{r['images_per_s_max']:<5.0f} "
            f"{r['ratio_median']:6.2f} {r['ratio_min']:5.2f}-{r['ratio_max']:<5.2f} "
            f"{r['images_per_cpu_s']:9.0f} {r['cpu_ratio_median']:6.2f} "
            f"{r['forward_mflop_per_image']:9.1f} {r['train_gflop_per_s']:7.1f} "
            f"{100 * r['fraction_of_peak']:5.1f} {'yes' if r['jit_compile'] else 'no':>3s}"
        )
    print(f"float32 matmul peak (best 2048^3 in this run): {peak:.1f} GFLOP/s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--suite", default="core", choices=sorted(SUITES))
    parser.add_argument(
        "--variants", nargs="+", help="variants to time (overrides --suite), e.g. seed project"
    )
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
        "--deterministic",
        action="store_true",
        help="enable TF op determinism in the workers, as mlp_tutorial.run_experiment does",
    )
    parser.add_argument("--backend-note", default="", help="free text stored in the record")
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON record (default: results/throughput.json for the core suite, "
        "results/throughput_<suite>.json for the others, so a suite never overwrites "
        "the headline record)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.output is None:
        core = args.suite == "core" and not args.variants
        args.output = RESULTS if core else RESULTS.with_name(f"throughput_{args.suite}.json")

    if args.worker:
        result = worker(json.loads(args.worker))
        print(MARKER + json.dumps(result), flush=True)
        return 0

    cfg = dict(
        image_size=args.image_size,
        patch_size=args.patch_size,
        embedding_dim=args.embedding_dim,
        num_blocks=args.num_blocks,
        dropout_rate=args.dropout_rate,
        num_classes=args.num_classes,
        batch_size=args.batch_size,
    )
    plan = {}
    for model in args.models:
        if args.variants:
            variants = [
                v for v in args.variants if not (v.startswith("paper") and model != "mixer")
            ]
        else:
            variants = SUITES[args.suite].get(model, [])
        for v in variants:
            parse_variant(v)
        if variants:
            plan[model] = variants
    if not plan:
        parser.error(f"suite {args.suite!r} has no variants for models {args.models}")

    results, failed, started = [], [], time.perf_counter()
    for model, variants in plan.items():
        spec = dict(
            model=model,
            variants=variants,
            config=cfg,
            repeats=args.repeats,
            steps=args.steps,
            warmup=args.warmup,
            num_batches=args.num_batches,
            deterministic=args.deterministic,
        )
        print(f"== {model}: {', '.join(variants)}", flush=True)
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")},
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
        if proc.returncode or not lines:
            print(proc.stdout[-4000:], file=sys.stderr)
            print(f"!! worker for {model} failed (exit {proc.returncode}); skipped", flush=True)
            failed.append(model)
            continue
        results.append(json.loads(lines[-1][len(MARKER) :]))
    if not results:
        raise SystemExit("every worker failed")

    peak = max(p for r in results for p in r["peak_matmul_gflops"])
    rows = [row for r in results for row in summarize(r, cfg, peak)]
    print()
    print_table(rows, peak)
    record = dict(
        environment=_environment(args.backend_note),
        config=cfg,
        protocol=dict(
            repeats=args.repeats,
            steps=args.steps,
            warmup=args.warmup,
            num_batches=args.num_batches,
            deterministic=args.deterministic,
            isolation="one fresh process per model family; variants interleaved, rotated",
            timed="model.train_on_batch (compiled Keras train_function), synthetic uint8",
            optimizer="AdamW(1e-3, weight_decay=1e-4), SCCE(from_logits), top-1 + top-5",
        ),
        command=shlex.join([Path(sys.executable).name, *sys.argv]),
        peak_matmul_gflops=peak,
        failed_models=failed,
        workers=results,
        rows=rows,
        wall_s=time.perf_counter() - started,
    )
    from mlp_tutorial.records import write_record  # here: the parent never imports Keras early

    write_record(args.output, record)  # atomic: a failed run keeps the old record
    print(f"wrote {args.output} ({record['wall_s']:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
