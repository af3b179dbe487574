"""Forward + backward time of one LayerNorm and one GELU: Keras' against hand-written gradients.

    python benchmarks/elementwise.py            # TensorFlow, (128, 64, 256) float32
    python benchmarks/elementwise.py --shape 128 256 64 --rounds 9

``custom_gradients.py`` (beside this script) gives GELU and LayerNorm hand-written backward
passes. This times, interleaved in rounds, the gradient of ``sum(f(x) * w)`` for: Keras'
``LayerNormalization`` math (``keras.ops.layer_normalization``), the hand-written
``LayerNorm``, TensorFlow's fused batch-norm kernel used as a LayerNorm (the trick
Keras 2 used: rows become "channels" of an NCHW tensor), Keras' exact and tanh GELU,
and the hand-written ``gelu``. Each variant's output and input gradient are checked
against Keras' before timing. TensorFlow only: it is the CPU backend these chapters
train with.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from custom_gradients import LayerNorm, gelu  # noqa: E402  (beside this file)
from record import write  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "elementwise.json"


def candidates(channels):
    """name -> (function of x, kind); every function closes over its own gamma/beta."""
    gamma = tf.Variable(np.linspace(0.5, 1.5, channels, dtype="float32"))
    beta = tf.Variable(np.linspace(-0.1, 0.1, channels, dtype="float32"))
    hand_norm = LayerNorm(epsilon=1e-6)
    hand_norm.build((None, channels))
    hand_norm.gamma.assign(gamma)
    hand_norm.beta.assign(beta)

    def keras_layer_norm(x):
        return keras.ops.layer_normalization(x, gamma, beta, -1, 1e-6)

    def fused_batch_norm(x):
        shape = tf.shape(x)
        rows = tf.reshape(x, (1, -1, shape[-1], 1))  # NCHW: one channel per row
        n = tf.shape(rows)[1]
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            rows, tf.ones([n]), tf.zeros([n]), epsilon=1e-6, data_format="NCHW"
        )
        return tf.reshape(y, shape) * gamma + beta

    return {
        "LayerNorm: keras": (keras_layer_norm, "norm"),
        "LayerNorm: hand-written": (hand_norm, "norm"),
        "LayerNorm: TF fused batch norm": (fused_batch_norm, "norm"),
        "GELU: keras exact": (lambda x: keras.ops.gelu(x, approximate=False), "gelu"),
        "GELU: keras tanh": (lambda x: keras.ops.gelu(x, approximate=True), "gelu"),
        "GELU: hand-written": (gelu, "gelu"),
    }


def train_step(fn, upstream):
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            loss = tf.reduce_sum(y * upstream)
        return y, tape.gradient(loss, x)

    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[128, 64, 256])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10, help="calls per timed block")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=args.shape).astype("float32"))
    upstream = tf.constant(rng.normal(size=args.shape).astype("float32"))
    steps, reference = {}, {}
    for name, (fn, kind) in candidates(args.shape[-1]).items():
        steps[name] = train_step(fn, upstream)
        y, dx = steps[name](x)
        if kind not in reference:  # the first of each kind is Keras' own
            reference[kind] = (y.numpy(), dx.numpy())
        # GELU tanh is an approximation (values differ by ~5e-4): timed, not checked.
        if "tanh" not in name:
            np.testing.assert_allclose(y.numpy(), reference[kind][0], atol=1e-4, err_msg=name)
            np.testing.assert_allclose(dx.numpy(), reference[kind][1], atol=1e-3, err_msg=name)

    times = {name: [] for name in steps}
    for r in range(args.rounds):
        order = list(steps)[r % len(steps) :] + list(steps)[: r % len(steps)]
        for name in order:
            start = time.perf_counter()
            for _ in range(args.calls):
                steps[name](x)
            times[name].append((time.perf_counter() - start) / args.calls * 1e3)

    rows = []
    print(f"forward + backward, {tuple(args.shape)} float32, median of {args.rounds} rounds")
    for name, values in times.items():
        kind = name.split(":")[0]
        base = statistics.median(
            times[f"{kind}: keras" if kind == "LayerNorm" else "GELU: keras exact"]
        )
        ms = statistics.median(values)
        rows.append(dict(name=name, ms=ms, ratio_to_keras=base / ms))
        print(f"  {name:32s} {ms:6.2f} ms   {base / ms:4.2f}x Keras")
    write(args.output, dict(shape=args.shape, rounds=args.rounds, calls=args.calls, rows=rows))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
