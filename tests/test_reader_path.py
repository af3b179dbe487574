"""A reader's Run all: every committed chapter, alone, as Colab or Kaggle opens it.

Each chapter is copied by itself into an empty folder and executed with nbclient as
committed (no papermill, no parameters injected), in a kernel of a fresh virtual
environment that has the package installed from a wheel of this checkout, as ``pip
install`` installs it (the libraries of ``requirements.txt`` come from the system site),
under a fresh ``HOME``. A reader's two settings are all it gets: ``train = False`` typed
into the parameters cell, and ``$MLP_TUTORIAL_CIFAR100`` naming a CIFAR-100 archive (the
full one beside the checkout where it is there, else a small generated one). The book's
records and models come over HTTP from a server on 127.0.0.1, named with
``$MLP_TUTORIAL_RESULTS_URL``, as they would come from the repository.
"""

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import venv

import nbformat
import pytest
from cifar_archives import official_members, write_archive
from conftest import CIFAR100, REPO
from nbformat.v4 import new_code_cell

pytestmark = pytest.mark.notebooks
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINING_CHAPTERS = {"02_mlp_mixer", "03_fnet", "04_gmlp", "06_training_recipe"}
# What each chapter must download when it has no results/ beside it.
DOWNLOADS = {
    "02_mlp_mixer": {"results/mixer.json", "results/mixer.keras"},
    "03_fnet": {"results/fnet.json", "results/fnet.keras"},
    "04_gmlp": {"results/gmlp.json", "results/gmlp.keras"},
    "05_comparison": {
        *(f"results/{name}.json" for name in ("mixer", "fnet", "gmlp")),
        *(
            f"results/time_to_accuracy_{n}.json"
            for n in ("mixer_w128_c128_ls", "fnet_w128_ls_lr5e-3", "gmlp_w128_ls")
        ),
    },  # fmt: skip
    "06_training_recipe": {
        f"results/recipe_{step}.{ext}"
        for step in ("example", "warmup_cosine", "label_smoothing", "randaugment", "mixup_cutmix")
        for ext in ("json", "keras")
    },
}
RUN = """
import sys
import nbformat
from nbclient import NotebookClient

notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, timeout=1800, kernel_name="python3").execute(cwd=sys.argv[2])
nbformat.write(notebook, sys.argv[1])
"""


class Server(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and keeps the path of every file it was asked for."""

    def __init__(self, *args, requests, **kwargs):
        self.requests = requests
        super().__init__(*args, **kwargs)

    def do_GET(self):
        self.requests.append(self.path.lstrip("/"))
        super().do_GET()

    def log_message(self, *args):  # no line on stderr per request
        pass


@pytest.fixture(scope="module")
def book_server(tmp_path_factory):
    """``(base URL of results/, list of requested paths)``: the committed records and
    models, served from a copy of that folder."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(REPO / "results", site / "results")
    requests = []
    handler = functools.partial(Server, requests=requests, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/results", requests
    server.shutdown()


@pytest.fixture(scope="module")
def reader_python(tmp_path_factory):
    """The Python of a new virtual environment with the package installed from a wheel of
    this checkout, and a ``python3`` kernel for it in a fresh ``HOME``: ``(python, home)``."""
    root = tmp_path_factory.mktemp("reader")
    venv.create(root / "venv", system_site_packages=True, with_pip=False)
    python = root / "venv" / "bin" / "python"
    source = root / "source"  # what a wheel is built from; the checkout is never written
    shutil.copytree(REPO / "mlp_tutorial", source / "mlp_tutorial",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "-q"]
    wheels = root / "wheels"
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)]
    subprocess.run(build, check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("mlp_tutorial-*.whl"))
    install = [*pip, "--python", str(python), "install", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=600)
    home = root / "home"
    home.mkdir()
    kernel = [str(python), "-m", "ipykernel", "install", "--user", "--name", "python3"]
    subprocess.run(kernel, env=reader_env(home), check=True, capture_output=True, timeout=300)
    return python, home


def reader_env(home, **variables):
    """This process's environment, less anything of ours or of Jupyter's, in ``home``."""
    ours = ("MLP_TUTORIAL_", "JUPYTER_", "KERAS_", "IPYTHONDIR", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return {**env, "HOME": str(home), **variables}


@pytest.fixture(scope="module")
def cifar100(tmp_path_factory):
    """The reader's CIFAR-100: the full archive where it is there, else a small fake one."""
    if CIFAR100.is_file():
        return CIFAR100
    folder = tmp_path_factory.mktemp("cifar")
    return write_archive(folder / "cifar-100-python.tar.gz", official_members(1000, 200))


def as_a_reader_would(chapter, folder):
    """``chapter`` copied alone into ``folder``, ``train = False`` typed into its parameters
    cell where it has one (whatever the committed value), and a last cell that names the
    package the kernel imported."""
    notebook = nbformat.read(chapter, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source, edits = re.subn(r"^train = \w+", "train = False", cell.source, flags=re.M)
    assert edits == (chapter.stem in TRAINING_CHAPTERS)
    notebook.cells.append(new_code_cell("import mlp_tutorial\nprint(mlp_tutorial.__file__)"))
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / chapter.name)
    return folder / chapter.name


def errors(notebook):
    return [
        f"{out.ename}: {out.evalue}"
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_opened_alone_runs_all(chapter, reader_python, book_server, cifar100, tmp_path):
    python, home = reader_python
    url, requests = book_server
    copy = as_a_reader_would(chapter, tmp_path / "content")
    env = reader_env(home, MLP_TUTORIAL_CIFAR100=str(cifar100), MLP_TUTORIAL_RESULTS_URL=url)
    before = len(requests)
    run = subprocess.run(
        [str(python), "-c", RUN, str(copy), str(copy.parent)],
        cwd=copy.parent, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    executed = nbformat.read(copy, as_version=4)
    assert run.returncode == 0 and not errors(executed), (errors(executed), run.stderr[-3000:])
    assert executed.cells[-1].outputs[0].text.startswith(str(python.parent.parent))
    assert set(requests[before:]) == DOWNLOADS.get(chapter.stem, set())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content"]  # it wrote nowhere else
