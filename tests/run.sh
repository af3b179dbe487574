#!/usr/bin/env bash
# The project's test command (README, .ci/run). On TensorFlow: the whole suite and the
# package's docstring examples. Then on JAX and on PyTorch: the tests marked `backend`
# (layers, models, training and resume, save/load, determinism) and the docstring examples
# again (a separate run: `-m backend` would deselect them, as they carry no marker).
set -euo pipefail
cd "$(dirname "$0")/.."
doctests=(--doctest-modules mlp_tutorial)
KERAS_BACKEND=tensorflow python -m pytest -n 2 --dist loadfile tests "${doctests[@]}" "$@"
for backend in jax torch; do
    KERAS_BACKEND=$backend python -m pytest -n 2 --dist loadfile -m backend tests "$@"
    KERAS_BACKEND=$backend python -m pytest "${doctests[@]}" "$@"
done
