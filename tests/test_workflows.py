"""The GitHub Actions workflows: valid against GitHub's schema, and doing what they promise.

Validation uses the workflow JSON schema that ``check-jsonschema`` ships inside the package
(``--builtin-schema vendor.github-workflows``), so it needs no network; the tests point the
HTTP(S) proxy at a closed local port to make sure of that. A deliberately broken workflow
must fail the same validation, so that a green result means something.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
BOOK = WORKFLOWS / "book.yml"
GPU = WORKFLOWS / "notebooks-gpu.yml"
MAIN_PUSH = "github.event_name == 'push' && github.ref == 'refs/heads/main'"

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


def runs(workflow, job=None):
    """The shell scripts of the `run` steps, one string."""
    return "\n".join(step.get("run", "") for step in steps(workflow, job))


def uses(step):
    """The action a step uses, without its version: ``actions/deploy-pages``."""
    return step.get("uses", "").split("@")[0]


def step_using(workflow, action):
    found = [s for s in steps(workflow) if uses(s) == action]
    assert len(found) == 1, f"expected one step that uses {action}, found {len(found)}"
    return found[0]


def jobs_using(workflow, action):
    return [name for name, job in workflow["jobs"].items() if action in map(uses, job["steps"])]


# ------------------------------------------------------------------------------ schema


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("path", [BOOK, GPU], ids=lambda p: p.name)
def test_workflow_is_valid(path, schema):
    result = validate(path, schema)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


BROKEN = {
    "missing runs-on": ("    runs-on: ubuntu-latest\n", ""),
    "misspelled trigger": ("  pull_request:\n", "  pull-request:\n"),
    "step with no action": ("      - uses: actions/checkout@v4\n", "      - name: nothing\n"),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN))
def test_broken_workflow_fails_validation(tmp_path, breakage):
    """The same check rejects a workflow that GitHub would reject."""
    old, new = BROKEN[breakage]
    text = BOOK.read_text(encoding="utf-8")
    assert old in text, f"the breakage {breakage!r} no longer applies to book.yml"
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")

    result = validate(broken)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Schema validation errors were encountered" in result.stdout


def test_missing_runs_on_is_named_in_the_error(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        BOOK.read_text(encoding="utf-8").replace("    runs-on: ubuntu-latest\n", "", 1),
        encoding="utf-8",
    )
    result = validate(broken)
    assert "'runs-on' is a required property" in result.stdout


def test_every_action_is_pinned_to_a_version():
    for path in (BOOK, GPU):
        for step in steps(load(path)):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+|[0-9a-f]{40})", step["uses"]), step


# --------------------------------------------------------------------------- book.yml


def test_book_runs_on_push_and_pull_request():
    triggers = load(BOOK)["on"]
    assert "push" in triggers and "pull_request" in triggers


def test_book_installs_like_ci_and_runs_the_readme_test_command():
    workflow = load(BOOK)
    script = runs(workflow, "build")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")

    assert "bash tests/run.sh" in readme and "jupyter-book build . -W" in readme
    for line in ("bash tests/run.sh", "jupyter-book build . -W"):
        assert any(s.get("run", "").strip() == line for s in steps(workflow, "build")), line
    assert script.index("bash tests/run.sh") < script.index("jupyter-book build . -W")
    # The same installation as .ci/run: both requirement files, the package, the kernel,
    # and Debian's Chromium for the browser test.
    for fragment in (
        "-r requirements.txt -r requirements-dev.txt",
        "--no-deps -e .",
        "ipykernel install --user --name python3",
    ):
        assert fragment in script, fragment
        assert fragment in ci, f".ci/run lacks {fragment!r}"
    chromium = re.compile(r"apt-get install -y( -qq)? chromium\n")
    assert chromium.search(script) and chromium.search(ci), "Debian's Chromium is not installed"
    assert ci.rstrip().splitlines()[-1] == "bash tests/run.sh"
    assert "playwright install" not in script + ci, "never download a browser"


def test_book_sets_up_python_with_a_pip_cache_keyed_on_the_requirements():
    setup = step_using(load(BOOK), "actions/setup-python")["with"]
    assert str(setup["python-version"]) == "3.11"
    assert setup["cache"] == "pip"
    assert setup["cache-dependency-path"] == "requirements*.txt"


def test_book_deploys_to_pages_only_from_main():
    workflow = load(BOOK)
    assert jobs_using(workflow, "actions/deploy-pages") == ["deploy"]
    deploy = workflow["jobs"]["deploy"]
    assert deploy["if"] == MAIN_PUSH
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["concurrency"]["cancel-in-progress"] is False

    for action in ("actions/configure-pages", "actions/upload-pages-artifact"):
        assert jobs_using(workflow, action) == ["build"]
        assert step_using(workflow, action)["if"] == MAIN_PUSH
    assert step_using(workflow, "actions/upload-pages-artifact")["with"]["path"] == "_build/html"
    # Nothing else in the workflow may write to Pages or the repository.
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["build"]["permissions"] == {"contents": "read", "pages": "read"}


# ---------------------------------------------------------------------- notebooks-gpu.yml


def test_gpu_workflow_triggers_and_inputs():
    triggers = load(GPU)["on"]
    assert set(triggers) == {"workflow_dispatch", "schedule"}
    assert triggers["schedule"][0]["cron"].count(" ") == 4
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"runner_label", "epochs", "open_pr"}
    assert inputs["open_pr"]["type"] == "boolean" and inputs["open_pr"]["default"] is False


def test_gpu_runner_label_falls_back_to_a_documented_default():
    workflow = load(GPU)
    runs_on = workflow["jobs"]["execute"]["runs-on"]
    assert runs_on == "${{ inputs.runner_label || vars.GPU_RUNNER_LABEL || 'gpu' }}"
    text = GPU.read_text(encoding="utf-8")
    assert "the default label `gpu`" in text and "GPU_RUNNER_LABEL" in text


def test_gpu_workflow_executes_every_chapter_on_cifar100_and_checks_with_nbval():
    workflow = load(GPU)
    script = runs(workflow, "execute")
    assert "tensorflow[and-cuda]" in script
    assert "-r requirements.txt -r requirements-dev.txt" in script
    assert "python -m mlp_tutorial.execute" in script
    assert "--output executed -p dataset cifar100" in script
    assert "--nbval-lax" in script and "executed/*.ipynb" in script
    cache = step_using(workflow, "actions/cache")["with"]
    assert cache["path"] == "~/.keras/datasets"
    upload = step_using(workflow, "actions/upload-artifact")
    assert upload["with"]["path"] == "executed/" and upload["if"] == "always()"
    assert "executed/results" in script  # the results records travel with the notebooks


def test_gpu_pull_request_only_on_request_and_never_on_the_gpu_runner():
    workflow = load(GPU)
    assert jobs_using(workflow, "peter-evans/create-pull-request") == ["pull-request"]
    job = workflow["jobs"]["pull-request"]
    assert job["if"] == "github.event_name == 'workflow_dispatch' && inputs.open_pr"
    assert job["runs-on"] == "ubuntu-latest"
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert workflow["permissions"] == {"contents": "read"}
    assert "permissions" not in workflow["jobs"]["execute"]
