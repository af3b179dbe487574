"""Argument checks for the layers, the models, the plots and the chapters' parameters.

Every check fails the same way: a :class:`ParameterError` (a ``ValueError``) whose message
names the argument, shows the value and says what is valid. A chapter checks its whole
parameters cell with :func:`validate_parameters`, so that a typo fails in the first second.
"""

import difflib
import numbers
import os
import tempfile
from pathlib import Path

#: The smallest ``train_limit`` worth training on: the validation split takes 10%.
MIN_TRAIN_LIMIT = 10


class ParameterError(ValueError):
    """One bad argument; the message names it, its ``value`` and what is valid."""

    def __init__(self, parameter, value, message):
        super().__init__(message)
        self.parameter, self.value = parameter, value


def _is_int(value):  # an integer, and not True, 10.0 or "10"
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):  # a real number, ints included, and not True or "1.0"
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _reject(name, value, needed, *, ok=None, problem="is not valid"):
    """Raise the one message every check gives; ``(a str)`` when ``ok(value)`` is false."""
    shown = os.fspath(value) if isinstance(value, os.PathLike) else value
    kind = "" if ok is None or value is None or ok(value) else f" (a {type(value).__name__})"
    message = f"`{name}`={shown!r}{kind} {problem}: {needed} is needed."
    raise ParameterError(name, value, message) from None


def suggest(value, choices):
    """`` (did you mean 'x'?)`` for a near miss among ``choices``, else ``""``."""
    close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_int(name, value, minimum, *, allow_none=False):
    """Return ``value`` as an int if it is an int >= ``minimum`` (or None when allowed)."""
    if allow_none and value is None:
        return None
    if not _is_int(value) or value < minimum:
        none = "None or " if allow_none else ""
        _reject(name, value, f"{none}an int >= {minimum}", ok=_is_int)
    return int(value)


def check_positive_int(name, value):
    """Return ``value`` as an int if it is an int >= 1, else raise a ``ParameterError``."""
    return check_int(name, value, 1)


def check_rate(name, value):
    """Return ``value`` as a float if it is a number in [0, 1), else raise."""
    if not _is_real(value) or not 0 <= value < 1:  # also false for NaN
        _reject(name, value, "a number in [0, 1)", ok=_is_real)
    return float(value)


def _check_number(name, value, *, minimum, inclusive):
    """Return a finite number > ``minimum`` (>= when ``inclusive``) as a float."""
    bound = f"{'>=' if inclusive else '>'} {minimum:g}"
    above = _is_real(value) and (value >= minimum if inclusive else value > minimum)
    if not (above and float(value) < float("inf")):  # also false for NaN
        _reject(name, value, f"a finite number {bound}", ok=_is_real)
    return float(value)


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise, listing them."""
    choices = tuple(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        _reject(name, value, f"one of {valid}", problem=f"is not valid{suggest(value, choices)}")
    return value


def _as_path(name, value, needed):
    """``value`` as an absolute path, ``~`` expanded: relative to the current directory."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        _reject(name, value, needed)
    return Path(os.path.abspath(os.path.expanduser(os.fspath(value))))


def _existing_path(name, value):
    """None, or a file or folder that exists; returned as an absolute path (a str)."""
    if value is None:
        return None
    needed = "None or the path of an existing file or folder"
    path = _as_path(name, value, needed)
    if not path.exists():
        _reject(name, value, needed, problem="does not exist")
    return str(path)


def _folder_to_read(name, value):
    """None, or a path that is not a file, as an absolute path (a str): a folder of
    records, read where it exists; where it does not, the chapter downloads them."""
    if value is None:
        return None
    needed = "None or a folder (downloaded into a cache where it does not exist)"
    path = _as_path(name, value, needed)
    if path.exists() and not path.is_dir():
        _reject(name, value, needed, problem="is a file")
    return str(path)


def _writable_folder(name, value):
    """A folder that exists or can be created and is writable, tested for real: the folders
    and the file that the test creates are removed again, so checking has no side effect."""
    needed = "a folder that exists or can be created, and is writable"
    path = _as_path(name, value, needed)
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    try:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{str(path)!r} is a file")
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        _reject(name, value, needed, problem=f"is not usable ({exc.strerror or exc})")
    finally:
        for folder in missing:  # innermost first
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return str(path)


def _check_bool(name, value):
    """Return ``value`` if it is ``True`` or ``False`` (not 1, "False" or None)."""
    if not isinstance(value, bool):
        _reject(name, value, "True or False", ok=lambda v: isinstance(v, bool))
    return value


def _recipe_list(name, value):
    """A non-empty list of distinct recipe names, returned as a list of str."""
    recipes = _choices("recipe")
    needed = f"a non-empty list of distinct names from {', '.join(map(repr, recipes))}"
    if not isinstance(value, (list, tuple)) or not value:
        _reject(name, value, needed, ok=lambda v: isinstance(v, (list, tuple)))
    for item in value:
        if item not in recipes:
            _reject(name, value, needed, problem=f"is not valid: {item!r}{suggest(item, recipes)}")
    if repeated := [item for item in value if value.count(item) > 1]:
        _reject(name, value, needed, problem=f"is not valid: {repeated[0]!r} repeats")
    return [str(item) for item in value]


def _choices(kind):
    """The valid names of a choice, imported on use: those modules import this one."""
    from mlp_tutorial import augment, classifier, data, recipe

    names = dict(model=classifier.MODEL_NAMES, dataset=data.DATASET_NAMES)
    names.update(precision=classifier.PRECISIONS, recipe=tuple(recipe.RECIPES))
    return dict(names, augmentation=augment.AUGMENTATIONS)[kind]


def _one_of(kind):
    return lambda name, value: check_choice(name, value, _choices(kind))


# name -> check(name, value) returning the normalized value, in parameters-cell order.
_CHECKS = {
    "model": _one_of("model"),
    "dataset": _one_of("dataset"),
    "data_path": _existing_path,  # None or an existing file or folder
    **dict.fromkeys(
        ("epochs", "batch_size", "image_size", "patch_size", "embedding_dim", "num_blocks"),
        check_positive_int,
    ),
    # the blocks' hidden widths; None: build_model's default for embedding_dim
    **dict.fromkeys(
        ("tokens_mlp_dim", "channels_mlp_dim", "ffn_dim"),
        lambda n, v: check_int(n, v, 1, allow_none=True),
    ),
    "dropout_rate": check_rate,
    "learning_rate": lambda n, v: _check_number(n, v, minimum=0, inclusive=False),
    "weight_decay": lambda n, v: _check_number(n, v, minimum=0, inclusive=True),
    "train_limit": lambda n, v: check_int(n, v, MIN_TRAIN_LIMIT, allow_none=True),
    "seed": lambda n, v: check_int(n, v, 0),
    "precision": _one_of("precision"),
    "results_dir": _writable_folder,
    "benchmarks_dir": _folder_to_read,  # None or a folder of benchmark records to read
    "checkpoint_dir": lambda n, v: None if v is None else _writable_folder(n, v),
    "recipe": _one_of("recipe"),
    "augmentation": _one_of("augmentation"),
    "ablation": _recipe_list,  # a non-empty list of distinct recipe names
    "train": _check_bool,  # False: load the book's trained model instead
}

#: Every parameter name a chapter may use, in the order of its parameters cell.
KNOWN_PARAMETERS = tuple(_CHECKS)
#: The parameters that say where things are on the machine that runs a chapter, not what
#: it runs: records leave them out, and a committed chapter keeps its defaults.
PATH_PARAMETERS = frozenset({"data_path", "results_dir", "checkpoint_dir", "benchmarks_dir"})


def validate_parameters(**params):
    """Check a chapter's parameters and return them normalized, in the order given.

    Every parameter is optional; the names are :data:`KNOWN_PARAMETERS`, checked as
    ``_CHECKS`` says, and together: ``patch_size`` divides ``image_size``, ``augmentation``
    is ``"randaugment"`` exactly when ``recipe`` has RandAugment, and ``data_path`` is None
    with the offline dataset. Ints must be ints: ``True``, ``2.5`` and ``"10"`` are not.

    Returns: a dict of the same names with plain Python values; paths as absolute ``str``
    (relative ones start from the current directory, ``~`` is expanded).

    Raises:
        ParameterError: for the first problem found.

    Example:
    >>> validate_parameters(epochs=3, image_size=64, patch_size=8, learning_rate=1e-3)
    {'epochs': 3, 'image_size': 64, 'patch_size': 8, 'learning_rate': 0.001}
    """
    for name, value in params.items():
        if name not in _CHECKS:
            known = ", ".join(KNOWN_PARAMETERS)
            hint = suggest(name, KNOWN_PARAMETERS)
            message = f"unknown parameter `{name}`={value!r}{hint}; known parameters: {known}."
            raise ParameterError(name, value, message)
    checked = {name: _CHECKS[name](name, value) for name, value in params.items()}
    _check_together(checked)
    return checked


def _check_together(checked):
    """The checks that involve two parameters, on their normalized values."""
    image_size, patch_size = checked.get("image_size"), checked.get("patch_size")
    if image_size and patch_size and image_size % patch_size:
        valid = ", ".join(str(d) for d in range(1, image_size + 1) if image_size % d == 0)
        problem = f"does not divide `image_size`={image_size}"
        _reject("patch_size", patch_size, f"one of its divisors {valid}", problem=problem)
    if "recipe" in checked and "augmentation" in checked:
        from mlp_tutorial.recipe import RECIPES

        # A mixing recipe augments each image before mixing, outside the model: "none".
        augmentation, needed = checked["augmentation"], RECIPES[checked["recipe"]].augmentation
        if augmentation != needed and (augmentation, needed) != ("none", "seed"):
            needed = "'seed' or 'none'" if needed == "seed" else repr(needed)
            problem = f"does not fit `recipe`={checked['recipe']!r}"
            _reject("augmentation", augmentation, needed, problem=problem)
    if checked.get("dataset") == "offline" and checked.get("data_path") is not None:
        problem = "is not used with `dataset`='offline'"
        needed = "None (or `dataset`='cifar100' or 'auto')"
        _reject("data_path", checked["data_path"], needed, problem=problem)
