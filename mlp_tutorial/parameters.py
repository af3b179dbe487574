"""The chapters' parameters, in one table: how each is checked, its value on a CPU for each
model, the Keras example's, the smoke run's, and what kind of setting it is.

Everything else reads this table: :func:`validate_parameters` (a chapter's parameters cell,
checked in its first second), the runner's path and smoke settings
(:mod:`mlp_tutorial.execute`), :data:`CPU_SETTINGS` and :func:`example_settings`, the
arguments a chapter passes to ``run_experiment`` and the settings a loaded model must share.
Adding a parameter is a row here and a line in the chapters' parameters cells.

The CPU values are chosen with the time-to-accuracy benchmark (``benchmarks/
time_to_accuracy.py``): how soon a setting reaches the Keras example's CIFAR-100 accuracy on
a 2-core CPU; :data:`CPU_RECORDS` names the run behind each model's.
"""

import dataclasses
import importlib

from mlp_tutorial import checks
from mlp_tutorial.checks import ParameterError, check_int, check_positive_int, check_rate, suggest

_UNSET = object()  # no value in that column (None is a value)

#: The smallest ``train_limit`` worth training on: the validation split takes 10%.
MIN_TRAIN_LIMIT = 10


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One row of :data:`PARAMETERS`.

    ``check(name, value)`` returns the normalized value or raises a ``ParameterError``.
    ``cpu``: the book's value on a CPU, one for all models or ``{model: value}``; ``example``:
    the Keras example's (the classifier's and the models' own come from
    :data:`mlp_tutorial.classifier.MODELS`); ``smoke``: the CI smoke run's. ``path``: it says
    where things are on the machine, not what runs (records and committed chapters leave it
    out). ``run``: an argument of ``run_experiment``. ``compared``: a loaded model must have
    trained with the chapter's value.
    """

    check: object
    cpu: object = _UNSET
    example: object = _UNSET
    smoke: object = _UNSET
    path: bool = False
    run: bool = False
    compared: bool = True

    def value_for(self, column, model):
        """This row's ``column`` value for ``model``, or ``_UNSET``."""
        value = getattr(self, column)
        return value.get(model, _UNSET) if isinstance(value, dict) else value


def _vocabulary(kind):
    """The valid names of a choice, imported on use: the runner starts without Keras."""
    module, attribute = {
        "model": ("classifier", "MODEL_NAMES"), "precision": ("classifier", "PRECISIONS"),
        "dataset": ("data", "DATASET_NAMES"), "recipe": ("recipe", "RECIPES"),
        "augmentation": ("augment", "AUGMENTATIONS"),
    }[kind]  # fmt: skip
    return tuple(getattr(importlib.import_module(f"mlp_tutorial.{module}"), attribute))


def _one_of(kind):
    return lambda name, value: checks.check_choice(name, value, _vocabulary(kind))


def _width(name, value):  # None: build_model's default for embedding_dim
    return check_int(name, value, 1, allow_none=True)


def _recipe_list(name, value):
    """A non-empty list of distinct recipe names, returned as a list of str."""
    recipes = _vocabulary("recipe")
    needed = f"a non-empty list of distinct names from {', '.join(map(repr, recipes))}"
    if not isinstance(value, (list, tuple)) or not value:
        checks.reject(name, value, needed, ok=lambda v: isinstance(v, (list, tuple)))
    for item in value:
        if item not in recipes:
            problem = f"is not valid: {item!r}{suggest(item, recipes)}"
            checks.reject(name, value, needed, problem=problem)
    if repeated := [item for item in value if value.count(item) > 1]:
        checks.reject(name, value, needed, problem=f"is not valid: {repeated[0]!r} repeats")
    return [str(item) for item in value]


P = Parameter
#: Every parameter a chapter may set, in the order of its parameters cell.
PARAMETERS = {
    "model": P(_one_of("model")),
    "dataset": P(_one_of("dataset"), smoke="offline", compared=False),
    "data_path": P(checks.existing_path, path=True),
    "epochs": P(check_positive_int, cpu=50, example=50, smoke=2, run=True),
    "batch_size": P(check_positive_int, cpu=128, example=128, smoke=64, run=True),
    "image_size": P(check_positive_int, cpu=32, smoke=32),
    "patch_size": P(check_positive_int, cpu=4, smoke=8),
    "embedding_dim": P(check_positive_int, cpu=128, smoke=32),
    "num_blocks": P(check_positive_int, cpu=4, smoke=1),
    "tokens_mlp_dim": P(_width, cpu={"mixer": 64}),  # the paper's C / 2
    "channels_mlp_dim": P(_width, cpu={"mixer": 128}),  # C: the paper's 4C at twice the time
    "ffn_dim": P(_width, cpu={"fnet": 128, "gmlp": 256}),
    "dropout_rate": P(check_rate, cpu=0.2),
    # FNet's is 5e-3, not the example's 1e-3: under the cosine it learns too slowly at 1e-3.
    "learning_rate": P(
        lambda n, v: checks.check_number(n, v, minimum=0, inclusive=False),
        cpu={"mixer": 0.005, "fnet": 0.005, "gmlp": 0.003},
        run=True,
    ),  # fmt: skip
    "weight_decay": P(
        lambda n, v: checks.check_number(n, v, minimum=0, inclusive=True),
        cpu=1e-4,
        example=1e-4,
        run=True,
    ),  # fmt: skip
    "train_limit": P(lambda n, v: check_int(n, v, MIN_TRAIN_LIMIT, allow_none=True), smoke=300),
    "seed": P(lambda n, v: check_int(n, v, 0), run=True),
    "precision": P(_one_of("precision"), cpu="float32", example="float32", run=True),
    "results_dir": P(checks.writable_folder, path=True),
    "checkpoint_dir": P(lambda n, v: v if v is None else checks.writable_folder(n, v), path=True),
    "recipe": P(_one_of("recipe"), cpu="+label_smoothing", example="example", run=True),
    "augmentation": P(_one_of("augmentation")),
    "ablation": P(_recipe_list, compared=False),  # a non-empty list of distinct recipe names
    "train": P(checks.check_bool, smoke=True, compared=False),  # False: load the book's model
}
del P

#: Paths: records leave them out, and the runner does not write them into a chapter.
PATH_PARAMETERS = frozenset(name for name, p in PARAMETERS.items() if p.path)
#: What a smoke run sets, in every chapter that defines it: each chapter runs in seconds.
SMOKE_PARAMETERS = {n: p.smoke for n, p in PARAMETERS.items() if p.smoke is not _UNSET}
#: The settings a loaded model must have trained with, where its record has them.
COMPARED_PARAMETERS = frozenset(n for n, p in PARAMETERS.items() if p.compared and not p.path)


def _column(column, model):
    values = {name: p.value_for(column, model) for name, p in PARAMETERS.items()}
    return {name: value for name, value in values.items() if value is not _UNSET}


#: Per model, the book's settings on a CPU: no upsampling (4 x 4 patches of the 32 x 32
#: images give the example's 64 patches at a quarter of the pixels), width 128, the warmup +
#: cosine schedule with label smoothing, every epoch run.
CPU_SETTINGS = {model: _column("cpu", model) for model in ("mixer", "fnet", "gmlp")}

#: The time-to-accuracy record (in ``results/``) each model's CPU settings come from.
CPU_RECORDS = {
    "mixer": "time_to_accuracy_mixer_w128_c128_ls.json",
    "fnet": "time_to_accuracy_fnet_w128_ls_lr5e-3.json",
    "gmlp": "time_to_accuracy_gmlp_w128_ls.json",
}


def example_settings(model):
    """The Keras example's settings for ``model``, the CPU settings' names: 64 x 64 inputs in
    8 x 8 patches, width 256, its hidden widths and learning rate, its recipe, 50 epochs."""
    from mlp_tutorial.classifier import EXAMPLE, MODELS

    spec = {k: v for k, v in MODELS[model].example.items() if k in CPU_SETTINGS[model]}
    return {**_column("example", model), **EXAMPLE, **spec}


def run_arguments(params, model):
    """The ``run_experiment`` arguments of a chapter's checked ``params``: those it sets,
    else the CPU value for ``model``."""
    rows = {name: p for name, p in PARAMETERS.items() if p.run}
    chosen = {name: params.get(name, p.value_for("cpu", model)) for name, p in rows.items()}
    return {name: value for name, value in chosen.items() if value is not _UNSET}


def validate_parameters(**params):
    """Check a chapter's parameters and return them normalized, in the order given.

    Every parameter is optional; the names are those of :data:`PARAMETERS`, each checked as
    its row says, and together: ``patch_size`` divides ``image_size``, ``augmentation``
    fits the ``recipe``, and ``data_path`` is None with the offline dataset. Ints must be
    ints: ``True``, ``2.5`` and ``"10"`` are not.

    Returns: a dict of the same names with plain Python values; paths as absolute ``str``
    (relative ones start from the current directory, ``~`` is expanded).

    Raises:
        ParameterError: for the first problem found.

    Example:
    >>> validate_parameters(epochs=3, image_size=64, patch_size=8, learning_rate=1e-3)
    {'epochs': 3, 'image_size': 64, 'patch_size': 8, 'learning_rate': 0.001}
    """
    for name, value in params.items():
        if name not in PARAMETERS:
            known = ", ".join(PARAMETERS)
            hint = suggest(name, PARAMETERS)
            message = f"unknown parameter `{name}`={value!r}{hint}; known parameters: {known}."
            raise ParameterError(name, value, message)
    checked = {name: PARAMETERS[name].check(name, value) for name, value in params.items()}
    _check_together(checked)
    return checked


def _check_together(checked):
    """The checks that involve two parameters, on their normalized values."""
    if checked.get("image_size") and checked.get("patch_size"):
        checks.check_patch_size(checked["image_size"], checked["patch_size"])
    if "recipe" in checked and "augmentation" in checked:
        from mlp_tutorial.recipe import check_augmentation

        check_augmentation(checked["recipe"], checked["augmentation"])
    if checked.get("dataset") == "offline" and checked.get("data_path") is not None:
        problem = "is not used with `dataset`='offline'"
        needed = "None (or `dataset`='cifar100' or 'auto')"
        checks.reject("data_path", checked["data_path"], needed, problem=problem)
