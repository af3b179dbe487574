"""Where a benchmark number came from: the provenance every record in ``results/`` carries.

A timing or an accuracy means something only next to the code and the machine that
produced it. ``write(path, record)`` stores ``record`` with a ``provenance`` entry: the
commit (``-dirty`` when files other than ``benchmarks/results/`` and the time-to-accuracy
records in ``results/`` differ from it), the CPU model and the instruction sets that change
the picture (AVX-512, AVX512-BF16, AMX), the Keras backend and library versions, the
environment variables that steer the backends, the command line, and the date.
"""

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# CPU flags that decide what is fast: bfloat16 matmuls need avx512_bf16 or AMX.
CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
# Environment variables that change what a backend computes, or on how many threads.
ENV_VARIABLES = (
    "KERAS_BACKEND", "TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_XLA_FLAGS", "XLA_FLAGS", "JAX_PLATFORMS", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
)  # fmt: skip


def commit(root=REPO):
    """``git rev-parse HEAD`` of ``root``, plus ``-dirty`` if its code differs from it."""

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        # Results written by earlier runs do not change the code being measured.
        changes = git(
            "status", "--porcelain", "--", ".", ":(exclude)benchmarks/results",
            ":(exclude)results/time_to_accuracy_*.json",
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("-dirty" if changes else "")


def cpu():
    """``{"model": the CPU's model name (as lscpu shows it), "flags": {flag: present}, ...}``."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass  # not Linux: the model from platform, flags unknown
    return {
        "model": model,
        "flags": {flag: flag in flags for flag in CPU_FLAGS},
        "logical_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def provenance():
    """Commit, CPU, backend, versions, environment and command of this process."""
    from mlp_tutorial.environment import environment

    env = environment()
    return {
        "commit": commit(),
        "cpu": cpu(),
        "backend": env["backend"],
        "versions": env["versions"],
        "environment_variables": {k: os.environ[k] for k in ENV_VARIABLES if k in os.environ},
        "command": shlex.join(["python", *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write(path, record):
    """Write ``{"provenance": ..., **record}`` to ``path`` atomically; returns the path."""
    from mlp_tutorial.records import write_record

    return write_record(path, {"provenance": provenance(), **record})
