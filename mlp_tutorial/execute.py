"""Execute the book's chapters with papermill: ``python -m mlp_tutorial.execute``.

The chapters are the ``[0-9][0-9]_*.ipynb`` files in ``--notebooks`` (default: ``notebooks``
in the current directory, else in this checkout); with none named, all run in name order.
``--smoke`` runs them with tiny settings on the offline data into ``--output`` (default: a
temporary folder); else they run with their own parameters, in place or into ``--output``.
``-p NAME VALUE`` sets a parameter in every selected chapter that defines it; a name that
none defines is refused. Into ``--output``, papermill keeps the values in an
``injected-parameters`` cell. In place, the executed chapter is what a reader can Run all:
no injected cell, the values written into the parameters cell itself, but the paths
(``data_path`` reaches the kernel as ``$MLP_TUTORIAL_CIFAR100``; ``results_dir`` and
``checkpoint_dir`` are used and not kept), and no path in the metadata.
Relative paths start from the current directory; a smoke copy gets its chapter's relative
default paths made absolute, so that it runs again where it lies. What C++ libraries write
to a kernel's stderr (TensorFlow's start-up lines) goes to a log file, not into the
notebook. Exit status: 1 when a cell fails, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill
from jupyter_client.manager import AsyncKernelManager

from mlp_tutorial.checks import suggest
from mlp_tutorial.data import ENV_VAR
from mlp_tutorial.parameters import PATH_PARAMETERS, SMOKE_PARAMETERS

CHAPTER_GLOB = "[0-9][0-9]_*.ipynb"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser("python -m mlp_tutorial.execute", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the paragraphs
    add = parser.add_argument
    add("notebooks", nargs="*", help="paths or stems, e.g. 02_mlp_mixer (default: all chapters)")
    add("--smoke", action="store_true", help="tiny settings on the offline data, into --output")
    add("--output", type=Path, metavar="DIR", help="folder for the executed copies")
    add("--notebooks", type=Path, metavar="DIR", dest="notebook_dir", help="the chapters' folder")
    add("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="set a parameter; VALUE is a Python literal (20, 3e-3, None) or a string")  # fmt: skip
    return parser.parse_args(argv)


def parse_value(text: str) -> object:
    """``"20"`` -> 20, ``"3e-3"`` -> 0.003, ``"None"`` -> None, ``"cifar100"`` -> "cifar100"."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def absolute(path: object) -> object:
    """A path string made absolute from the current directory, ``~`` expanded; else as is."""
    return os.path.abspath(os.path.expanduser(path)) if isinstance(path, str) else path


def default_notebook_dir() -> Path:
    """``./notebooks`` if it exists, else the one of the checkout this file is in, if any."""
    checkout = Path(__file__).resolve().parent.parent / "notebooks"
    here = Path("notebooks").absolute()
    return checkout if checkout.is_dir() and not here.is_dir() else here


def select_notebooks(names: list[str], notebook_dir: Path) -> list[Path]:
    """The notebooks named (by path, or by stem in ``notebook_dir``), or all its chapters;
    a ``FileNotFoundError`` when a name matches no notebook or there are no chapters."""
    chapters = sorted(notebook_dir.glob(CHAPTER_GLOB))
    found = [find_notebook(name, notebook_dir) for name in names] if names else chapters
    if None in found or not found:
        missing = repr(names[found.index(None)]) if None in found else CHAPTER_GLOB
        available = ", ".join(path.stem for path in chapters) or "none"
        raise FileNotFoundError(
            f"no notebook {missing} in {notebook_dir} (chapters there: {available}): give an "
            ".ipynb path, or run this where the book's notebooks/ is, or pass --notebooks DIR"
        )
    return found


def find_notebook(name: str, notebook_dir: Path) -> Path | None:
    """One notebook by path (from the current directory) or by stem in ``notebook_dir``."""
    for candidate in (Path(name), notebook_dir / name, notebook_dir / f"{name}.ipynb"):
        if candidate.suffix == ".ipynb" and candidate.is_file():
            return candidate.resolve()
    return None


def chapter_parameters(notebooks, overrides, smoke_output=None):
    """``{notebook: parameters}``: the smoke settings (with ``smoke_output``), then the
    overrides, each kept to the names that the notebook's parameters cell defines; a
    ``ValueError`` for an override that no selected notebook defines, listing those they do."""
    defined = {notebook: papermill.inspect_notebook(str(notebook)) for notebook in notebooks}
    known = list(dict.fromkeys(name for names in defined.values() for name in names))
    for name in overrides:
        if name not in known:
            hint = suggest(name, known)
            chapters = ", ".join(notebook.stem for notebook in notebooks)
            raise ValueError(
                f"unknown parameter {name!r}{hint}: the parameters of {chapters} are "
                f"{', '.join(known) or 'none'}"
            )
    chosen = {}
    for notebook in notebooks:
        wanted = {}
        if smoke_output is not None:
            results = str((smoke_output / "results").resolve())
            wanted = {**SMOKE_PARAMETERS, **pinned_paths(notebook, defined[notebook])}
            wanted["results_dir"] = results
        wanted.update(overrides)
        chosen[notebook] = {k: v for k, v in wanted.items() if k in defined[notebook]}
    return chosen


def pinned_paths(notebook: Path, defined: dict) -> dict:
    """The notebook's relative default paths (``PATH_PARAMETERS``) made absolute from its
    folder, so that a smoke copy runs again where it lies (nbval re-runs the copies)."""
    pinned = {}
    for name in PATH_PARAMETERS & defined.keys():
        value = parse_value(defined[name]["default"])
        if isinstance(value, str) and not os.path.isabs(value):
            pinned[name] = str((notebook.parent / value).resolve())
    return pinned


def run_notebook(notebook: Path, output: Path, parameters: dict, log: Path) -> None:
    """Execute ``notebook`` in its folder into ``output``; the kernel's stderr goes to ``log``."""
    with log.open("w") as log_file:

        class KernelManager(AsyncKernelManager):
            async def start_kernel(self, **kwargs):
                return await super().start_kernel(stderr=log_file, **kwargs)

        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters or None, kernel_name="python3",
            cwd=str(notebook.parent), log_output=False, progress_bar=False,
            kernel_manager_class=KernelManager,
            # else ipykernel copies what is written to the process's stderr into the notebook
            extra_arguments=["--IPKernelApp.capture_fd_output=False"],
        )  # fmt: skip


def settle(notebook: Path, parameters: dict) -> None:
    """Make an executed chapter one that a reader can Run all: drop papermill's
    injected-parameters cell and its metadata (which name this machine's paths), and write
    the values that produced the page into the parameters cell, but the paths."""
    book = nbformat.read(notebook, as_version=4)
    book.cells = [c for c in book.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    book.metadata.pop("papermill", None)
    cell = next(c for c in book.cells if "parameters" in c.metadata.get("tags", []))
    kept = {name: value for name, value in parameters.items() if name not in PATH_PARAMETERS}
    cell.source = with_values(cell.source, kept)
    nbformat.write(book, notebook)


def with_values(source: str, values: dict) -> str:
    """``source`` (a parameters cell) with the assignment of each name in ``values`` set to
    its ``repr``, the rest of the line (a comment) kept: ``epochs = 5  # every epoch``."""
    lines = source.splitlines(keepends=True)
    assignments = [node for node in ast.parse(source).body if isinstance(node, ast.Assign)]
    for node in reversed(assignments):  # from the bottom, so line numbers stay valid
        name = node.targets[0].id if isinstance(node.targets[0], ast.Name) else None
        if name in values and not _holds(node.value, values[name]):
            first, last = node.value.lineno - 1, node.value.end_lineno - 1
            head = lines[first].encode()[: node.value.col_offset].decode()
            tail = lines[last].encode()[node.value.end_col_offset :].decode()
            lines[first : last + 1] = [f"{head}{values[name]!r}{tail}"]
    return "".join(lines)


def _holds(node: ast.expr, value: object) -> bool:
    """Whether the literal ``node`` already has ``value`` (then its line stays as written)."""
    try:
        current = ast.literal_eval(node)
    except ValueError:
        return False
    return type(current) is type(value) and current == value


def prepare(args: argparse.Namespace) -> tuple[list[Path], dict[Path, dict], Path | None]:
    """The notebooks, their parameters and the output folder, checked before anything runs."""
    notebooks = select_notebooks(args.notebooks, args.notebook_dir or default_notebook_dir())
    overrides = {name: parse_value(value) for name, value in args.parameter}
    for name in PATH_PARAMETERS & overrides.keys():  # the notebooks run in their own folder
        overrides[name] = absolute(overrides[name])
    if os.environ.get(ENV_VAR):
        os.environ[ENV_VAR] = absolute(os.environ[ENV_VAR])  # the kernels inherit it
    output_dir = args.output and args.output.absolute()
    if args.smoke and output_dir is None:
        output_dir = Path(tempfile.mkdtemp(prefix="mlp-smoke-"))
    smoke_output = output_dir if args.smoke else None
    return notebooks, chapter_parameters(notebooks, overrides, smoke_output), output_dir


def execute(notebook: Path, parameters: dict, output_dir: Path | None, log_dir: Path) -> bool:
    """Run one chapter into ``output_dir``, or in place and then :func:`settle` it; on a
    failing cell, print where and why and return False."""
    output, log = notebook, log_dir / f"{notebook.stem}.log"
    injected = dict(parameters)
    if output_dir is not None:
        output = output_dir / notebook.name
    elif injected.get("data_path") is not None:  # as a reader names a local copy
        os.environ[ENV_VAR] = injected.pop("data_path")
    try:
        run_notebook(notebook, output, injected, log)
    except papermill.PapermillExecutionError as error:
        first_line = next((line for line in error.source.splitlines() if line.strip()), "")
        print(
            f"FAILED {notebook.stem}: cell {error.cell_index} (In [{error.exec_count}]) "
            f"raised {error.ename}: {error.evalue}\n  cell starts: {first_line}\n"
            f"  full traceback in {output}\n  the kernel's own log: {log}",
            file=sys.stderr,
        )
        return False
    if output_dir is None:
        settle(notebook, parameters)
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the selected chapters one after another; return the process exit status."""
    try:
        notebooks, parameters, output_dir = prepare(parse_args(argv))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    log_dir = output_dir or Path(tempfile.mkdtemp(prefix="mlp-kernel-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    where = "executed copies and kernel logs go to" if output_dir else "in place; kernel logs go to"
    print(f"Chapters from {notebooks[0].parent}, {where} {log_dir}", flush=True)
    for number, notebook in enumerate(notebooks, start=1):
        progress = f"[{number}/{len(notebooks)}] {notebook.stem}"
        print(f"{progress} ...", flush=True)
        start = time.perf_counter()
        if not execute(notebook, parameters[notebook], output_dir, log_dir):
            return 1
        print(f"{progress} done in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
