#!/usr/bin/env bash
# The project's test command (README, .ci/run): the whole suite on the TensorFlow backend,
# then the layer, model and training tests (marker `backend`) again on JAX.
set -euo pipefail
cd "$(dirname "$0")/.."
KERAS_BACKEND=tensorflow python -m pytest -n 2 --dist loadfile "$@"
KERAS_BACKEND=jax python -m pytest -n 2 --dist loadfile -m backend "$@"
