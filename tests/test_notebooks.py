"""The chapters, run headlessly: papermill smoke execution, nbval, and the committed pages.

The smoke run executes every chapter with tiny settings on a class-balanced subset of the
real CIFAR-100 in ``../shared/data`` (CI has it there), with the command a reader runs
(``python -m mlp_tutorial.execute --smoke -p dataset cifar100 -p data_path ...``); one chapter
also runs on the offline stand-in, the smoke run's own default. nbval then re-runs the
executed copies and checks that the cells tagged ``nbval-check-output`` reproduce (the
executed copies keep the chapters' cell tags)."""

import hashlib
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import CIFAR100
from test_execute import LOG_LINE, outputs_text

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINING_CHAPTERS = {"02_mlp_mixer": "mixer", "03_fnet": "fnet", "04_gmlp": "gmlp"}
RECIPE_STEPS = ["example", "warmup_cosine", "label_smoothing", "randaugment", "mixup_cutmix"]
# The models each chapter saves (results/<name>.keras) and loads with `train = False`.
SAVED_MODELS = {stem: [name] for stem, name in TRAINING_CHAPTERS.items()}
SAVED_MODELS["06_training_recipe"] = [f"recipe_{step}" for step in RECIPE_STEPS]
TRAIN_LIMIT = 500  # 5 images per class: enough to run every cell, small enough to be quick
# run_experiment's epoch log: its header, or a line such as " 1/2  4.6052 ..."
EPOCH_LINE = re.compile(r"^\s*(epoch\s+loss\s|\d+/\d+\s)", re.M)

pytestmark = pytest.mark.notebooks
needs_cifar100 = pytest.mark.skipif(
    not CIFAR100.is_file(), reason=f"the real CIFAR-100 archive is not at {CIFAR100} (CI has it)"
)


def _offline_env(out):
    """The environment of a run here: no network, so the book's records that a chapter
    downloads (chapter 5's time-to-accuracy records) come from this checkout's results/,
    into a cache inside ``out``."""
    env = dict(os.environ, MLP_TUTORIAL_RESULTS_URL=(REPO / "results").as_uri())
    env["KERAS_HOME"] = str(out / ".keras")
    return env


def _smoke(out, *args):
    """Run ``python -m mlp_tutorial.execute --smoke`` into ``out``; return its printed text."""
    env = _offline_env(out)
    env.pop("MLP_TUTORIAL_CIFAR100", None)  # the data is what the command line says
    command = [sys.executable, "-m", "mlp_tutorial.execute", "--smoke", "--output", str(out)]
    run = subprocess.run(
        [*command, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800
    )
    assert run.returncode == 0, f"smoke run failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    return run.stdout + run.stderr


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """Every chapter once on a class-balanced subset of real CIFAR-100: (folder, output)."""
    out = tmp_path_factory.mktemp("smoke")
    data = ["-p", "dataset", "cifar100", "-p", "data_path", str(CIFAR100)]
    return out, _smoke(out, *data, "-p", "train_limit", str(TRAIN_LIMIT))


@pytest.fixture(scope="module")
def smoke_dir(smoke_run):
    return smoke_run[0]


@pytest.fixture(scope="module")
def offline_dir(tmp_path_factory):
    """The MNIST chapter once on the offline stand-in, the smoke run's own default."""
    out = tmp_path_factory.mktemp("offline")
    _smoke(out, "02_mlp_mixer")
    return out


def test_chapters_exist():
    names = [p.stem for p in CHAPTERS]
    assert names[:4] == ["01_patches", "02_mlp_mixer", "03_fnet", "04_gmlp"]


@needs_cifar100
def test_smoke_run_executes_every_chapter_without_error(smoke_dir):
    for chapter in CHAPTERS:
        executed = nbformat.read(smoke_dir / chapter.name, as_version=4)
        errors = [
            out
            for cell in executed.cells
            if cell.cell_type == "code"
            for out in cell.get("outputs", [])
            if out.output_type == "error"
        ]
        assert not errors, f"{chapter.name}: {errors[0]['ename']}: {errors[0]['evalue']}"


@needs_cifar100
@pytest.mark.parametrize("stem, model", sorted(TRAINING_CHAPTERS.items()))
def test_smoke_run_writes_finite_results_records_on_cifar100(smoke_dir, stem, model):
    """Each training chapter leaves results/<model>.json, from the CIFAR-100 subset."""
    record = json.loads((smoke_dir / "results" / f"{model}.json").read_text())
    assert record["model"] == model
    assert record["dataset"]["name"] == "cifar100"
    assert record["dataset"]["num_classes"] == 100
    assert record["dataset"]["source"].startswith(f"CIFAR-100: {TRAIN_LIMIT} train")
    assert record["config"]["train_limit"] == TRAIN_LIMIT
    assert "data_path" not in record["config"]  # a record names no folder of the machine
    for key in ("top1", "top5", "loss"):
        assert math.isfinite(record["test"][key])
    assert 0.0 <= record["test"]["top1"] <= record["test"]["top5"] <= 1.0
    assert len(record["history"]["loss"]) == record["epochs_run"] >= 1
    assert record["num_params"] > 0 and record["train_images_per_second"] > 0


def test_smoke_run_on_the_offline_stand_in(offline_dir):
    """--smoke's own default data: the stand-in, for a reader without the archive."""
    record = json.loads((offline_dir / "results" / "mixer.json").read_text())
    assert record["dataset"]["name"] == "offline"
    assert record["dataset"]["num_classes"] == 10
    assert math.isfinite(record["test"]["loss"])
    assert not LOG_LINE.findall(outputs_text(offline_dir / "02_mlp_mixer.ipynb"))


@needs_cifar100
def test_smoke_run_prints_and_stores_no_library_log_line(smoke_run):
    """No TensorFlow, absl or CUDA line in the terminal or in any executed chapter."""
    smoke_dir, printed = smoke_run
    assert not LOG_LINE.findall(printed)
    for chapter in CHAPTERS:
        assert not LOG_LINE.findall(outputs_text(smoke_dir / chapter.name)), chapter.stem


def epoch_lines(text):
    """The lines of run_experiment's epoch logs in ``text``."""
    return [line for line in text.splitlines() if EPOCH_LINE.match(line)]


def after_training(chapter):
    """What a reader sees below the training cell: ``[(kind, content), ...]`` for every
    stream and figure output of the later cells (figures as their PNG data)."""
    cells = nbformat.read(chapter, as_version=4).cells
    code = [i for i, cell in enumerate(cells) if cell.cell_type == "code"]
    training = ("run_experiment(", "train_or_load(")
    trained = max(i for i in code if any(call in cells[i].source for call in training))
    shown = []
    for cell in cells[trained + 1 :]:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                lines = output.text.splitlines()  # the record's path differs by design
                shown += [("text", line) for line in lines if "results record:" not in line]
            elif "image/png" in output.get("data", {}):
                shown.append(("figure", output.data["image/png"]))
    return shown


@needs_cifar100
@pytest.mark.parametrize("stem", sorted(SAVED_MODELS))
def test_training_chapter_loads_its_trained_model_and_trains_nothing(stem, smoke_dir, tmp_path):
    """`-p train False`: a chapter loads the models that the smoke run trained and saved
    (<name>.keras, its SHA-256 in <name>.json), tests each again to the same top-1, fits
    nothing (the records left as they were), and shows below the training
    cell the same figures and printed results as the run that trained: nothing a page
    shows of the trained model may depend on a random augmentation."""
    results = smoke_dir / "results"
    records = {name: (results / f"{name}.json").read_bytes() for name in SAVED_MODELS[stem]}
    for name, before in records.items():
        model_file = results / f"{name}.keras"
        saved = json.loads(before)["model_file"]
        assert saved["name"] == model_file.name
        assert hashlib.sha256(model_file.read_bytes()).hexdigest() == saved["sha256"]
    assert EPOCH_LINE.search(outputs_text(smoke_dir / f"{stem}.ipynb"))  # the run that trained

    data = ["-p", "dataset", "cifar100", "-p", "data_path", str(CIFAR100)]
    load = ["-p", "results_dir", str(results), "-p", "train", "False"]
    _smoke(tmp_path, stem, *data, "-p", "train_limit", str(TRAIN_LIMIT), *load)
    printed = outputs_text(tmp_path / f"{stem}.ipynb")
    for name, before in records.items():
        pattern = rf"^loaded {name}\.keras, tested again:\ntest top1 (\d\.\d{{4}}) "
        loaded = re.search(pattern, printed, re.M)
        assert loaded, (name, printed[-3000:])
        assert float(loaded[1]) == pytest.approx(json.loads(before)["test"]["top1"], abs=1e-4)
        assert (results / f"{name}.json").read_bytes() == before  # nothing trained or written
    # What it prints of the training is the log that the training printed, from the
    # record: a fit would add lines.
    trained = outputs_text(smoke_dir / f"{stem}.ipynb")
    assert epoch_lines(printed) == epoch_lines(trained)
    assert not (tmp_path / "results").exists()
    shown = after_training(tmp_path / f"{stem}.ipynb")
    expected = after_training(smoke_dir / f"{stem}.ipynb")
    assert [kind for kind, _ in shown] == [kind for kind, _ in expected]
    pairs = zip(expected, shown, strict=True)
    differ = [(a[0], a[1][:120], b[1][:120]) for a, b in pairs if a != b]
    assert not differ, differ


@needs_cifar100
def test_nbval_reproduces_checked_cells(smoke_dir):
    """Cells tagged nbval-check-output give the same output when the copies are re-run."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-q",
            *sorted(str(p) for p in smoke_dir.glob("*.ipynb")),
        ],
        cwd=smoke_dir,
        env=_offline_env(smoke_dir),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert " passed" in run.stdout and "failed" not in run.stdout


# ---------------------------------------------------------------- the committed pages


def _png_count(notebook):
    return sum(
        "image/png" in out.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_committed_chapter_has_outputs_figures_and_no_error(chapter):
    notebook = nbformat.read(chapter, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code), "some cells were not executed"
    assert _png_count(notebook) >= 2
    for cell in code:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"stored error: {out.get('ename')}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_follows_the_notebook_contract(chapter):
    """Install-if-missing first, one parameters cell, validated in the very next cell."""
    notebook = nbformat.read(chapter, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert 'find_spec("mlp_tutorial") is None' in code[0].source
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    checking = code[tagged[0] + 1].source
    assert "validate_parameters(" in checking or "chapter.check_parameters(" in checking


@pytest.mark.parametrize("stem", sorted(TRAINING_CHAPTERS))
def test_training_chapters_have_exercises_and_record(stem):
    notebook = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "## Exercises" in markdown
    exercises = markdown.split("## Exercises", 1)[1].split("\n## ", 1)[0]
    assert (
        sum(line.lstrip()[:2] in {f"{i}." for i in range(1, 10)} for line in exercises.splitlines())
        >= 3
    )
    record = json.loads((REPO / "results" / f"{TRAINING_CHAPTERS[stem]}.json").read_text())
    assert math.isfinite(record["test"]["top1"])
