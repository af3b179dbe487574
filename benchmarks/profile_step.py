"""Where one training step's time goes, by kind of work (TensorFlow backend only).

    TF_NUM_INTEROP_THREADS=1 python benchmarks/profile_step.py gmlp seed
    TF_NUM_INTEROP_THREADS=1 python benchmarks/profile_step.py mixer project+seedwidths

Traces a few compiled train steps with the TensorFlow profiler, reads the op events from
the trace (``*.xplane.pb``), and sums their durations by category: matmuls (forward /
backward), dropout (random numbers and masking), LayerNorm, GELU, FFT, data movement
(transpose, split, concat), augmentation, optimizer, and the rest. With
``TF_NUM_INTEROP_THREADS=1`` ops run one at a time, so the sum is close to the step time;
otherwise two ops may overlap and the sum exceeds it. Variants as in :mod:`variants`.
"""

import argparse
import collections
import glob
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def category(name, op):
    """A coarse category for one op event ``name`` (its scope path) of type ``op``."""
    lower, op_lower = name.lower(), op.lower()
    if "/" not in name.rsplit(":", 1)[0]:
        # Ops without a layer scope: the loss and metrics, and the backward pass of any
        # keras.ops.custom_gradient function (the package had some until issue 12).
        return "unscoped (loss, metrics)"
    if "adamw" in lower or "assign" in op_lower:
        return "optimizer"
    if any(k in lower for k in ("random_zoom", "random_flip", "resiz", "augment")) or (
        "normaliz" in lower and "layer_norm" not in lower
    ):
        return "augmentation + resize"
    if any(k in lower for k in ("dropout", "stateless_random", "randint")) or (
        "random" in op_lower
    ):
        return "dropout (RNG + mask)"
    direction = "bwd" if "gradient" in lower else "fwd"
    if any(k in op_lower for k in ("matmul", "einsum", "conv")):
        return f"matmul {direction}"
    if "fft" in op_lower:
        return f"FFT {direction}"
    if "norm" in lower:
        return f"LayerNorm {direction}"
    if "gelu" in lower or "erf" in op_lower:
        return f"GELU {direction}"
    if op in ("Transpose", "_MklTranspose", "Split", "SplitV", "ConcatV2", "ReverseV2"):
        return f"transpose/split/concat {direction}"
    return f"other {direction}"


def trace_steps(model, x, y, steps):
    """Profile ``steps`` train steps; returns the trace (an ``XSpace``) and ms per step."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        step_ms = (time.perf_counter() - start) / steps * 1e3
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        trace = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]
        space.ParseFromString(Path(trace).read_bytes())
    return space, step_ms


def tally(space, steps):
    """Milliseconds per step by :func:`category` and by op name."""
    by_category, by_name = collections.Counter(), collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" not in name or name.startswith("__inference"):
                    continue
                op = name.rsplit(":", 1)[1]
                if op in ("Process", "Run") or name.startswith("EagerLocalExecute"):
                    continue
                ms = event.duration_ps / 1e9 / steps
                by_category[category(name, op)] += ms
                by_name[name] += ms
    return by_category, by_name


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=("mixer", "fnet", "gmlp"))
    parser.add_argument("variant", help="e.g. seed, project, project+seedwidths")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--top", type=int, default=0, help="also list the N slowest ops")
    parser.add_argument("--output", type=Path, help="also write the table as a JSON record")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    from throughput import compiled, load_packages
    from variants import build_variant

    if keras.backend.backend() != "tensorflow":
        raise SystemExit(
            "profile_step.py reads TensorFlow profiler traces: KERAS_BACKEND=tensorflow"
        )
    geometry = dict(
        image_size=64, patch_size=8, embedding_dim=256, num_blocks=4, dropout_rate=0.2,
        num_classes=100,
    )  # fmt: skip
    model = build_variant(args.model, args.variant, load_packages({}), geometry)
    model = compiled(model, True if "xla" in args.variant else "auto")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(args.batch_size, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 100, size=(args.batch_size,))
    for _ in range(3):
        model.train_on_batch(x, y)
    space, step_ms = trace_steps(model, x, y, args.steps)
    by_category, by_name = tally(space, args.steps)
    total = sum(by_category.values())
    print(
        f"{args.model} {args.variant}: {step_ms:.0f} ms/step "
        f"({args.batch_size * 1e3 / step_ms:.0f} img/s); op time {total:.0f} ms/step"
    )
    for key, ms in by_category.most_common():
        print(f"  {key:30s} {ms:7.1f} ms  {100 * ms / total:5.1f}%")
    for name, ms in by_name.most_common(args.top):
        print(f"    {ms:6.1f} ms  {name[-100:]}")
    if args.output:
        from record import write

        write(args.output, dict(model=args.model, variant=args.variant, geometry=geometry,
                                step_ms=step_ms, op_ms_per_step=dict(by_category)))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
