"""Execute the book's chapters with papermill.

Usage::

    python -m mlp_tutorial.execute [--smoke] [--output DIR] [-p NAME VALUE ...] [notebook ...]

With no notebooks named, every chapter ``notebooks/[0-9][0-9]_*.ipynb`` runs, in name
order. A notebook is named by its path or by its stem, e.g. ``02_mlp_mixer``.

``--smoke`` runs each chapter end to end on the offline dataset with tiny settings, to
check that it works, and writes the executed copies to ``--output`` (default: a fresh
temporary folder). Without ``--smoke`` the chapters run with their own parameters and are
executed in place, which is how the outputs committed in the book are made; ``--output``
then writes the executed copies there instead. ``-p NAME VALUE`` overrides one parameter
(as papermill's ``-p`` does) in every selected notebook whose parameters cell defines it;
papermill records the override in an ``injected-parameters`` cell, so the page shows it
and a later in-place run without ``-p`` keeps it.

Each notebook runs in its own folder, in a ``python3`` kernel that inherits this process's
environment (``MLP_TUTORIAL_CIFAR100``, ``KERAS_BACKEND``, ...). The first failing cell
stops the run with exit status 1.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
import time
from pathlib import Path

import papermill

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
CHAPTER_GLOB = "[0-9][0-9]_*.ipynb"

# Small enough that every chapter finishes in seconds on a CPU; a notebook receives only
# the names that its parameters cell defines.
SMOKE_PARAMETERS = {
    "dataset": "offline",
    "epochs": 2,
    "train_limit": 300,
    "batch_size": 64,
    "image_size": 32,
    "patch_size": 8,
    "embedding_dim": 32,
    "num_blocks": 1,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m mlp_tutorial.execute",
        description="Execute the book's chapter notebooks with papermill.",
    )
    parser.add_argument(
        "notebooks",
        nargs="*",
        help="notebook paths or stems such as 02_mlp_mixer (default: every chapter)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="run on the offline dataset with tiny settings, writing copies to --output",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="folder for the executed copies (default: a temporary folder with --smoke, "
        "otherwise the notebooks are executed in place)",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter; VALUE is read as a Python literal if it is one "
        "(20, 0.003, None), else as a string",
    )
    return parser.parse_args(argv)


def parse_value(text: str) -> object:
    """``"20"`` -> 20, ``"3e-3"`` -> 0.003, ``"None"`` -> None, ``"cifar100"`` -> "cifar100"."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def notebook_parameters(
    notebook: Path, overrides: dict[str, object], output_dir: Path | None, smoke: bool
) -> dict[str, object] | None:
    """The parameters to inject: smoke settings, then overrides, kept to the names defined."""
    wanted = dict(smoke_parameters(notebook, output_dir)) if smoke else {}
    if overrides:
        defined = papermill.inspect_notebook(str(notebook))
        wanted.update({k: v for k, v in overrides.items() if k in defined})
    return wanted or None


def select_notebooks(names: list[str], notebook_dir: Path) -> list[Path]:
    """Return the notebooks to run: those named, or every chapter in ``notebook_dir``.

    Raises:
        FileNotFoundError: a name matches no notebook, or there are no chapters at all.
    """
    if not names:
        chapters = sorted(notebook_dir.glob(CHAPTER_GLOB))
        if not chapters:
            raise FileNotFoundError(f"no chapter notebooks ({CHAPTER_GLOB}) in {notebook_dir}")
        return chapters
    return [resolve_notebook(name, notebook_dir) for name in names]


def resolve_notebook(name: str, notebook_dir: Path) -> Path:
    """Find one notebook by path (relative to the working folder or the repository) or stem."""
    candidates = [Path(name), REPO_ROOT / name, notebook_dir / name, notebook_dir / f"{name}.ipynb"]
    for candidate in candidates:
        if candidate.suffix == ".ipynb" and candidate.is_file():
            return candidate.resolve()
    available = ", ".join(path.stem for path in sorted(notebook_dir.glob(CHAPTER_GLOB)))
    raise FileNotFoundError(
        f"no notebook {name!r}: give a path to an .ipynb file or one of: {available or 'none'}"
    )


def smoke_parameters(notebook: Path, output_dir: Path) -> dict[str, object]:
    """The smoke settings restricted to the names that ``notebook``'s parameters cell defines."""
    wanted = {**SMOKE_PARAMETERS, "results_dir": str((output_dir / "results").resolve())}
    defined = papermill.inspect_notebook(str(notebook))
    return {name: value for name, value in wanted.items() if name in defined}


def run_notebook(notebook: Path, output: Path, parameters: dict[str, object] | None) -> None:
    """Execute ``notebook`` in its own folder and write the executed copy to ``output``."""
    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(notebook.parent),
        log_output=False,
        progress_bar=False,
    )


def describe_failure(notebook: Path, output: Path, error: papermill.PapermillExecutionError) -> str:
    """A short report of the cell that failed and where to read its full traceback."""
    first_line = next((line for line in error.source.splitlines() if line.strip()), "")
    return (
        f"FAILED {notebook.stem}: cell {error.cell_index} (In [{error.exec_count}]) raised "
        f"{error.ename}: {error.evalue}\n"
        f"  cell starts: {first_line}\n"
        f"  full traceback in the executed copy: {output}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the selected chapters one after another; return the process exit status."""
    args = parse_args(argv)
    try:
        notebooks = select_notebooks(args.notebooks, NOTEBOOK_DIR)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output_dir = args.output
    if args.smoke and output_dir is None:
        output_dir = Path(tempfile.mkdtemp(prefix="mlp-smoke-"))
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        print(f"Executed notebooks go to {output_dir.resolve()}", flush=True)
    for number, notebook in enumerate(notebooks, start=1):
        output = notebook if output_dir is None else output_dir / notebook.name
        overrides = {name: parse_value(value) for name, value in args.parameter}
        parameters = notebook_parameters(notebook, overrides, output_dir, args.smoke)
        progress = f"[{number}/{len(notebooks)}] {notebook.stem}"
        print(f"{progress} ...", flush=True)
        start = time.perf_counter()
        try:
            run_notebook(notebook, output, parameters)
        except papermill.PapermillExecutionError as error:
            print(describe_failure(notebook, output, error), file=sys.stderr, flush=True)
            return 1
        print(f"{progress} done in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
