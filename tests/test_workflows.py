"""The GitHub Actions workflows: valid against GitHub's schema, and doing what they promise.

Validation uses the workflow JSON schema that ``check-jsonschema`` ships inside the package
(``--builtin-schema vendor.github-workflows``), so it needs no network; the tests point the
HTTP(S) proxy at a closed local port to make sure of that. A deliberately broken workflow
must fail the same validation, so that a green result means something.

The other tests check properties, not wording: the book job runs the test command that
``.ci/run`` and the README give; only pushes to main deploy; nothing but the jobs that must
write can write; every input a workflow uses is declared; the GPU workflow keeps and proposes
each trained model (``results/*.keras``) together with the record that holds its SHA-256
(``results/*.json``), and its pull request checks every such pair before it is opened.
"""

import fnmatch
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
BOOK = WORKFLOWS / "book.yml"
GPU = WORKFLOWS / "notebooks-gpu.yml"
REQUIREMENTS = sorted(path.name for path in REPO.glob("requirements*.txt"))

# GitHub's schema, and the stricter one that also requires `timeout-minutes` on every job
# (a GPU job that hangs would otherwise hold its runner for GitHub's 6-hour maximum).
SCHEMAS = ["vendor.github-workflows", "custom.github-workflows-require-timeout"]


def validate(path, schema="vendor.github-workflows"):
    """Run check-jsonschema on one file with every network route closed."""
    env = dict(os.environ)
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    env.update(HTTP_PROXY=closed, HTTPS_PROXY=closed, http_proxy=closed, https_proxy=closed)
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def load(path):
    """The workflow as data. PyYAML reads the key `on` as True (YAML 1.1): undo that."""
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(workflow, job=None):
    """Every step of one job, or of all jobs."""
    jobs = [workflow["jobs"][job]] if job else workflow["jobs"].values()
    return [step for j in jobs for step in j.get("steps", [])]


def run_lines(workflow, job=None):
    """The shell lines of the `run` steps, in order, stripped."""
    return [line.strip() for s in steps(workflow, job) for line in s.get("run", "").splitlines()]


def uses(step):
    """The action a step uses, without its version: ``actions/deploy-pages``."""
    return step.get("uses", "").split("@")[0]


def step_using(workflow, action):
    found = [s for s in steps(workflow) if uses(s) == action]
    assert len(found) == 1, f"expected one step that uses {action}, found {len(found)}"
    return found[0]


def jobs_using(workflow, action):
    return [name for name, job in workflow["jobs"].items() if action in map(uses, job["steps"])]


def _text(name):
    return (REPO / name).read_text(encoding="utf-8")


def installs(lines):
    """What the `pip install` lines install: requirement files, and whether the package."""
    pip = [line for line in lines if re.search(r"\bpip install\b", line)]
    files = {name for line in pip for name in re.findall(r"-r (\S+)", line)}
    package = any(re.search(r"\s(-e )?\.(\s|$)", line) for line in pip)
    return files, package


# ------------------------------------------------------------------------------ schema


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("path", [BOOK, GPU], ids=lambda p: p.name)
def test_workflow_is_valid(path, schema):
    result = validate(path, schema)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def _break(workflow, breakage):
    build = workflow["jobs"]["build"]
    if breakage == "missing runs-on":
        del build["runs-on"]
    elif breakage == "misspelled trigger":
        workflow["on"]["pull-request"] = workflow["on"].pop("pull_request")
    elif breakage == "step with neither run nor uses":
        build["steps"][0] = {"name": "nothing"}


@pytest.mark.parametrize(
    "breakage, error",
    [
        ("none", None),  # the round trip through PyYAML alone keeps the workflow valid
        ("missing runs-on", "'runs-on' is a required property"),
        ("misspelled trigger", "Schema validation errors"),
        ("step with neither run nor uses", "Schema validation errors"),
    ],
)
def test_broken_workflow_fails_validation(tmp_path, breakage, error):
    """The same check rejects a workflow that GitHub would reject, and says why."""
    workflow = load(BOOK)
    _break(workflow, breakage)
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8")

    result = validate(broken)

    assert result.returncode == (0 if error is None else 1), result.stdout + result.stderr
    assert error is None or error in result.stdout, result.stdout


def test_every_action_is_pinned_to_a_version():
    for path in (BOOK, GPU):
        for step in steps(load(path)):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+|[0-9a-f]{40})", step["uses"]), step


@pytest.mark.parametrize("path", [BOOK, GPU], ids=lambda p: p.name)
def test_python_and_pip_cache_match_the_project(path):
    """The Python version is one the package supports; the pip cache is keyed on every
    requirement file, so that a changed requirement gets a fresh cache."""
    setup = step_using(load(path), "actions/setup-python")["with"]
    supported = SpecifierSet(re.search(r'requires-python = "(.+)"', _text("pyproject.toml"))[1])
    assert f"{setup['python-version']}.0" in supported
    assert setup["cache"] == "pip"
    keyed = [name for name in REQUIREMENTS if fnmatch.fnmatch(name, setup["cache-dependency-path"])]
    assert keyed == REQUIREMENTS


# --------------------------------------------------------------------------- book.yml


def test_book_runs_on_push_and_pull_request():
    triggers = load(BOOK)["on"]
    assert "push" in triggers and "pull_request" in triggers


def test_book_job_installs_and_tests_like_ci_then_builds_like_the_readme():
    """`.ci/run` ends with the test command; the README shows it and the build command."""
    ci = [line.strip() for line in _text(".ci/run").splitlines() if line.strip()]
    readme = [line.split("#")[0].strip() for line in _text("README.md").splitlines()]
    test_command = ci[-1]
    (build_command,) = [line for line in readme if line.startswith("jupyter-book build")]
    assert test_command in readme

    lines = run_lines(load(BOOK), "build")
    assert test_command in lines and build_command in lines
    assert lines.index(test_command) < lines.index(build_command)
    for script in (lines, ci):
        assert installs(script) == (set(REQUIREMENTS), True)
        # Debian's Chromium for the browser test; a browser is never downloaded.
        assert any(re.search(r"apt-get install\b.*\bchromium\b", line) for line in script)
        assert not any("playwright install" in line for line in script)


def test_book_deploys_to_pages_only_from_a_push_to_main():
    workflow = load(BOOK)
    assert jobs_using(workflow, "actions/deploy-pages") == ["deploy"]
    deploy = workflow["jobs"]["deploy"]
    condition = " ".join(deploy["if"].split())
    assert "github.event_name == 'push'" in condition
    assert "github.ref == 'refs/heads/main'" in condition and "||" not in condition
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"  # what deploy-pages requires

    # The build job prepares the upload under the same condition, from the built book.
    for action in ("actions/configure-pages", "actions/upload-pages-artifact"):
        assert jobs_using(workflow, action) == ["build"]
        assert step_using(workflow, action)["if"] == deploy["if"]
    assert step_using(workflow, "actions/upload-pages-artifact")["with"]["path"] == "_build/html"


@pytest.mark.parametrize(
    "path, writers", [(BOOK, {"deploy"}), (GPU, {"pull-request"})], ids=["book", "gpu"]
)
def test_only_the_publishing_job_can_write(path, writers):
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        writes = {scope for scope, level in job.get("permissions", {}).items() if level == "write"}
        assert bool(writes) == (name in writers), (name, job.get("permissions"))


# ---------------------------------------------------------------------- notebooks-gpu.yml


def test_gpu_workflow_runs_by_hand_and_on_a_schedule_with_declared_inputs():
    workflow = load(GPU)
    triggers = workflow["on"]
    assert {"workflow_dispatch", "schedule"} <= set(triggers)
    assert len(triggers["schedule"][0]["cron"].split()) == 5
    used = set(re.findall(r"\binputs\.(\w+)", GPU.read_text(encoding="utf-8")))
    declared = set(triggers["workflow_dispatch"]["inputs"])
    assert used and used <= declared, used - declared


def test_gpu_runner_label_has_a_documented_default():
    """A scheduled run has no inputs: the label expression must end in a literal default,
    and the file's comments must name it."""
    runs_on = load(GPU)["jobs"]["execute"]["runs-on"]
    default = re.fullmatch(r"\$\{\{ inputs\.runner_label \|\|.*\|\| '([\w-]+)' \}\}", runs_on)
    assert default, runs_on
    comments = [line for line in GPU.read_text(encoding="utf-8").splitlines() if "#" in line]
    assert any(f"`{default[1]}`" in line for line in comments)


def test_gpu_workflow_executes_the_chapters_on_cifar100_and_checks_and_keeps_them():
    workflow = load(GPU)
    script = "\n".join(run_lines(workflow, "execute"))
    assert "tensorflow[and-cuda]" in script  # TensorFlow's CUDA libraries for the GPU
    assert re.search(r"python -m mlp_tutorial\.execute\b", script)
    # In place, so the runner leaves pages a reader can Run all (no papermill cell, no path
    # of the runner); the chapters' own default is CIFAR-100 (test_notebook_parameters).
    assert "--output" not in script and "-p dataset" not in script
    assert "args=(-p train True)" in script  # the committed chapters only load the models
    upload = step_using(workflow, "actions/upload-artifact")
    folder = upload["with"]["path"].rstrip("/")
    assert upload["if"] == "always()"  # a failed run keeps its notebooks for inspection
    assert re.search(r"--nbval-lax\b.*\bnotebooks/\*\.ipynb", script)
    assert f"cp notebooks/*.ipynb {folder}/" in script
    assert f"{folder}/results" in script  # the results records travel with the notebooks


def test_gpu_pull_request_only_on_request_and_never_on_the_gpu_runner():
    workflow = load(GPU)
    assert jobs_using(workflow, "peter-evans/create-pull-request") == ["pull-request"]
    job = workflow["jobs"]["pull-request"]
    assert "workflow_dispatch" in job["if"] and "inputs.open_pr" in job["if"]
    assert job["runs-on"].startswith("ubuntu-")  # GitHub-hosted: the GPU machine gets no token
    assert job["needs"] == "execute"


def _step_index(workflow, job, predicate):
    found = [i for i, step in enumerate(steps(workflow, job)) if predicate(step)]
    assert len(found) == 1, f"expected one such step in {job}, found {len(found)}"
    return found[0]


def _runs(pattern):
    return lambda step: re.search(pattern, step.get("run", ""), re.MULTILINE) is not None


@pytest.mark.parametrize("ext", ["json", "keras"])
def test_gpu_workflow_collects_the_models_with_the_records(ext):
    """Each record holds its model's SHA-256: the run clears the committed records and
    models alike, and collects this run's, both, into the uploaded folder, before nbval
    executes the notebooks again."""
    workflow = load(GPU)
    upload = step_using(workflow, "actions/upload-artifact")
    folder = upload["with"]["path"].rstrip("/")
    execute = _step_index(workflow, "execute", _runs(r"python -m mlp_tutorial\.execute\b"))
    clear = steps(workflow, "execute")[execute]["run"]
    assert re.search(rf"^\s*rm -f\b.*\sresults/\*\.{ext}\b", clear, re.MULTILINE), clear
    collect = _step_index(
        workflow, "execute", _runs(rf"^\s*cp results/\*\.{ext} {folder}/results/?(\s|$)")
    )
    nbval = _step_index(workflow, "execute", _runs(r"--nbval"))
    upload_at = steps(workflow, "execute").index(upload)
    assert execute < collect < nbval < upload_at
    assert steps(workflow, "execute")[collect]["if"] == "always()"


@pytest.mark.parametrize("ext", ["json", "keras"])
def test_gpu_pull_request_proposes_the_models_with_the_records(ext):
    """The pull request puts this run's records and models in place, and commits both."""
    workflow = load(GPU)
    upload = step_using(workflow, "actions/upload-artifact")["with"]
    download = step_using(workflow, "actions/download-artifact")["with"]
    assert download["name"] == upload["name"]
    here = download["path"].rstrip("/")
    lines = run_lines(workflow, "pull-request")
    assert f"cp {here}/results/*.{ext} results/" in lines
    proposed = step_using(workflow, "peter-evans/create-pull-request")["with"]["add-paths"]
    assert f"results/*.{ext}" in proposed.split()
    assert "notebooks/*.ipynb" in proposed.split()


def _pair_check():
    """The pull-request job's script that checks every record against its model."""
    workflow = load(GPU)
    index = _step_index(workflow, "pull-request", _runs(r"sha256"))
    put = _step_index(workflow, "pull-request", _runs(r"^\s*cp \S+/results/\*\.keras results/"))
    opened = steps(workflow, "pull-request").index(
        step_using(workflow, "peter-evans/create-pull-request")
    )
    assert put < index < opened  # on the files put in place, before they are proposed
    return steps(workflow, "pull-request")[index]["run"]


def _check_pairs(folder):
    return subprocess.run(
        ["bash", "-e", "-c", _pair_check()], cwd=folder, capture_output=True, text=True
    )


def _write_pair(results, name, data):
    """A model and the record that names it, as `save_trained` writes them."""
    (results / f"{name}.keras").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    model_file = {"name": f"{name}.keras", "bytes": len(data), "sha256": digest}
    (results / f"{name}.json").write_text(json.dumps({"model_file": model_file}))


@pytest.mark.parametrize(
    "case, named",
    [
        ("pairs", None),
        ("old model", "gmlp.keras"),
        ("model without record", "fnet.keras"),
        ("no model", "recipe_example.keras"),
    ],
)
def test_gpu_pull_request_refuses_a_record_without_its_model(tmp_path, case, named):
    """The check runs on the records and models in place: a record beside a model of
    another run (the committed one), or a model or record alone, stops the job."""
    results = tmp_path / "results"
    results.mkdir()
    _write_pair(results, "gmlp", b"new model")
    _write_pair(results, "recipe_example", b"another model")
    (results / "notes.json").write_text("{}")  # a record that names no model is fine
    if case == "old model":
        (results / "gmlp.keras").write_bytes(b"old model")
    elif case == "model without record":
        (results / "fnet.keras").write_bytes(b"stray")
    elif case == "no model":
        (results / "recipe_example.keras").unlink()

    result = _check_pairs(tmp_path)

    assert result.returncode == (0 if named is None else 1), result.stdout + result.stderr
    assert named is None or named in result.stdout  # the log names the file at fault


def test_gpu_pair_check_accepts_the_committed_records_and_models():
    result = _check_pairs(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(list((REPO / 'results').glob('*.keras')))} models match" in result.stdout
