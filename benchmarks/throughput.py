"""Training throughput (images/s) of the package's models against the seed rebuild's.

    python benchmarks/throughput.py                          # seed vs project, 3 models
    python benchmarks/throughput.py --compare-ref 5599e3e    # + the package at 5599e3e
    python benchmarks/throughput.py --suite xla              # XLA on/off (augmentation off)
    python benchmarks/throughput.py --models fnet --variants seed project project+bf16
    KERAS_BACKEND=jax python benchmarks/throughput.py --suite jax

What is timed: the compiled Keras train step (``model.train_on_batch``, the same
``train_function`` that ``model.fit`` runs) on a few fixed synthetic uint8 batches
``(B, 32, 32, 3)``, with AdamW, sparse cross-entropy on logits and top-1/top-5 metrics
for every model, at the seed's configuration by default (image 64, patch 8, width 256,
4 blocks, dropout 0.2, batch 128, flip + zoom inside the model).

How: each model family runs in a fresh Python process, so graphs, thread pools and global
flags cannot leak from one family into the next. Inside it every variant is built and
warmed up, then timed in rounds of ``--steps`` steps, interleaved ``A B C A B C ...`` with
the order rotated each round. On a shared CPU the load drifts over seconds, and adjacent
blocks see nearly the same load, so the per-round ratio to ``seed`` is far steadier than
either throughput: read the ratio. ``--compare-ref REV`` extracts the package at git
revision ``REV`` (``git archive``) and imports it in the same process beside the working
tree's, so ``seed``, ``project`` and ``project@REV`` are interleaved in the same rounds.

Variants are described in :mod:`variants`. FLOPs per image come from the package's
counter ``mlp_tutorial.flops`` (training = 3x forward); the float32 matmul peak is the
best 2048^3 product timed in the same process before and after the rounds.
"""

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
MODELS = ("mixer", "fnet", "gmlp")
SUITES = {
    # The Mixer's default widths (D_S = D/2, D_C = 4D) do 7.7x the seed's matmuls, so the
    # like-for-like row is project+seedwidths; `project` is what a reader builds.
    "core": {
        "mixer": ["seed", "project+seedwidths", "project"],
        "fnet": ["seed", "project+seedwidths"],
        "gmlp": ["seed", "project+seedwidths"],
    },
    "xla": {
        m: ["seed+noaug", "seed+noaug+xla", "project+noaug", "project+noaug+xla"] for m in MODELS
    },
    "aug": {m: ["seed", "seed+noaug", "project", "project+noaug", "project+aug32"] for m in MODELS},
    "jax": {m: ["seed", "project", "seed+jitaug"] for m in MODELS},
    "bf16": {m: ["seed", "project", "project+bf16"] for m in MODELS},
}
MARKER = "@@THROUGHPUT_JSON@@ "


# ----------------------------------------------------------------------------------------
# Worker: one model family in a fresh process
# ----------------------------------------------------------------------------------------
def import_package_at(root):
    """Import the ``mlp_tutorial`` in folder ``root`` beside the one already imported.

    Both have the same module names, so the working tree's modules are set aside in
    ``sys.modules`` while the other one loads, and put back after. Each module keeps the
    objects it imported at load time; a package that imports its public names on first use
    has them all bound while it is the one loaded, so a later use cannot reach the other
    package's modules. (``variants.build_variant`` checks that a model's blocks come from
    the package asked for.) Keras' serialization registry ends up naming the last
    package's classes, which matters only for loading saved models, never done here.
    """

    def ours(module):
        return module == "mlp_tutorial" or module.startswith("mlp_tutorial.")

    current = {m: sys.modules.pop(m) for m in list(sys.modules) if ours(m)}
    sys.path.insert(0, str(root))
    try:
        package = importlib.import_module("mlp_tutorial")
        importlib.import_module("mlp_tutorial.flops")
        if not Path(package.__file__).resolve().is_relative_to(Path(root).resolve()):
            raise RuntimeError(f"imported {package.__file__}, not the package in {root}")
        for name in package.__all__:
            setattr(package, name, getattr(package, name))
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if ours(m)]:
            del sys.modules[module]
        sys.modules.update(current)
    return package


def load_packages(ref_roots):
    """``{None: the working tree's mlp_tutorial, REV: the package at REV, ...}``."""
    sys.path.insert(1, str(REPO))  # the working tree's package, whatever pip installed
    package = importlib.import_module("mlp_tutorial")
    importlib.import_module("mlp_tutorial.flops")
    packages = {None: package}
    packages.update({rev: import_package_at(root) for rev, root in ref_roots.items()})
    return packages


def package_name(rev):
    """How a record names the package timed: never by a folder of this machine."""
    return "mlp_tutorial" if rev is None else f"mlp_tutorial at commit {rev}"


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


def build_all(spec, packages, batches):
    """Build, compile and warm up every variant; returns ``{variant: model}`` and facts."""
    from variants import build_variant, forward_flops, parse_variant

    models, facts = {}, {}
    for variant in spec["variants"]:
        start = time.perf_counter()
        model = build_variant(spec["model"], variant, packages, spec["geometry"])
        model = compiled(model, True if "xla" in parse_variant(variant)[1] else "auto")
        for i in range(spec["warmup"]):
            model.train_on_batch(*batches[i % len(batches)])
        models[variant] = model
        facts[variant] = dict(
            jit_compile=bool(model.jit_compile),
            params=int(model.count_params()),
            forward_flops=forward_flops(spec["model"], variant, packages, spec["geometry"]),
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

    packages = load_packages(spec["ref_roots"])
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
    models, facts = build_all(spec, packages, batches)
    wall, cpu = time_rounds(models, batches, spec["repeats"], spec["steps"])
    peaks.append(_peak_matmul_gflops())
    load.append(os.getloadavg()[0])
    return dict(
        model=spec["model"],
        wall=wall,
        cpu=cpu,
        facts=facts,
        packages={str(k): package_name(k) for k in packages},
        peak_matmul_gflops=peaks,
        loadavg_1min=load,
    )


# ----------------------------------------------------------------------------------------
# Orchestrator
# ----------------------------------------------------------------------------------------
def extract_revision(rev, folder):
    """``git archive`` the package at ``rev`` into ``folder``; returns its full commit."""
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True, text=True,
    )  # fmt: skip
    if found.returncode:
        raise SystemExit(f"--compare-ref {rev!r} is not a commit of {REPO} (see `git log`).")
    full = found.stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", full, "mlp_tutorial"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return full


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
    """One row per variant: median img/s, paired ratios to ``seed``, FLOPs, % of peak."""
    wall, cpu = result["wall"], result["cpu"]
    reference = next((v for v in wall if v.startswith("seed")), next(iter(wall)))
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
    print("| model | variant | img/s | × seed (paired median, range) | × seed, CPU time "
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
    """``{model: [variant, ...]}`` from ``--suite`` / ``--variants`` and ``--compare-ref``."""
    from variants import parse_variant

    plan = {}
    for model in args.models:
        chosen = args.variants or SUITES[args.suite].get(model, [])
        variants = []
        for variant in chosen:
            base, _, _ = parse_variant(variant)
            variants.append(variant)
            if args.compare_ref and base == "project":
                variants.append(f"{variant}@{args.compare_ref}")
        if variants:
            plan[model] = variants
    return plan


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--suite", default="core", choices=sorted(SUITES))
    parser.add_argument("--variants", nargs="+", help="variants to time (instead of --suite)")
    parser.add_argument(
        "--compare-ref",
        metavar="REV",
        help="also time every project variant with the package at git revision REV",
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
        "--deterministic", action="store_true", help="TF op determinism, as run_experiment sets"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON record (default results/throughput.json for the core suite; "
        "throughput_vs_<REV>.json with --compare-ref; throughput_<suite>.json otherwise)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def default_output(args):
    if args.compare_ref:
        return RESULTS / f"throughput_vs_{args.compare_ref}.json"
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
    with tempfile.TemporaryDirectory(prefix="mlp_tutorial_ref_") as ref_root:
        ref = {}
        if args.compare_ref:
            ref = {"rev": args.compare_ref, "commit": extract_revision(args.compare_ref, ref_root)}
        for model, variants in plan.items():
            print(f"== {model}: {', '.join(variants)}", flush=True)
            spec = dict(
                model=model, variants=variants, geometry=geometry, batch_size=args.batch_size,
                repeats=args.repeats, steps=args.steps, warmup=args.warmup,
                num_batches=args.num_batches, deterministic=args.deterministic,
                ref_roots={args.compare_ref: ref_root} if ref else {},
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
        reference_package=ref or None,
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
