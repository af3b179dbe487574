"""Check a chapter's parameters as a whole, before any work is done.

Every chapter has one cell of parameters (papermill can override them). A typo there
should fail in the first second with a message that says what to change, not after an
hour of training when the results folder turns out to be read-only.
:func:`validate_parameters` checks every parameter it is given, and how they fit
together, and returns them normalized (plain ``int``/``float``/``str``, so the dict can
go into a JSON results record as it is).
"""

import difflib
import numbers
import os
import tempfile
from pathlib import Path

from mlp_tutorial.augment import AUGMENTATIONS
from mlp_tutorial.classifier import MODEL_NAMES
from mlp_tutorial.data import DATASET_NAMES
from mlp_tutorial.recipe import RECIPES
from mlp_tutorial.validation import check_choice, check_rate

__all__ = ["KNOWN_PARAMETERS", "ParameterError", "validate_parameters"]

#: The smallest ``train_limit`` worth training on: the validation split takes 10%.
MIN_TRAIN_LIMIT = 10


class ParameterError(ValueError):
    """One bad chapter parameter: the message names it, its value and what is valid.

    Attributes:
        parameter: the parameter's name, e.g. ``"patch_size"``.
        value: the value it was given.
    """

    def __init__(self, parameter, value, message):
        super().__init__(message)
        self.parameter = parameter
        self.value = value


def _is_int(value):
    """A real integer: not a bool, not a float like 10.0, not a string like "10"."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    """A real number (ints allowed, bools and strings not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _type_note(value, ok):
    """`` (a float)`` when ``value`` has the wrong type (``ok(value)`` false), else ``""``."""
    return "" if value is None or ok(value) else f" (a {type(value).__name__})"


def _int_at_least(name, value, minimum, *, allow_none=False):
    """An int >= minimum (or None when ``allow_none``), returned as a plain int."""
    if allow_none and value is None:
        return None
    if not _is_int(value) or value < minimum:
        none = "None or " if allow_none else ""
        kind = _type_note(value, _is_int)
        raise ParameterError(
            name,
            value,
            f"`{name}`={value!r}{kind} is not valid: {none}an int >= {minimum} is needed.",
        )
    return int(value)


def _float(name, value, *, minimum, inclusive):
    """A finite real number > minimum (>= when ``inclusive``), returned as a float."""
    bound = f"{'>=' if inclusive else '>'} {minimum:g}"
    if not _is_real(value):
        raise ParameterError(
            name,
            value,
            f"`{name}`={value!r}{_type_note(value, _is_real)} is not valid: "
            f"a number {bound} is needed.",
        )
    value_f = float(value)
    ok = value_f >= minimum if inclusive else value_f > minimum
    if not (ok and value_f < float("inf")):  # also false for NaN
        raise ParameterError(
            name, value, f"`{name}`={value!r} is not valid: a finite number {bound} is needed."
        )
    return value_f


def _rate(name, value):
    try:
        return check_rate(name, value)
    except ValueError:
        raise ParameterError(
            name,
            value,
            f"`{name}`={value!r}{_type_note(value, _is_real)} is not valid: "
            "a number in [0, 1) is needed.",
        ) from None


def _choice(name, value, choices):
    try:
        return check_choice(name, value, choices)
    except (ValueError, TypeError):  # TypeError: an unhashable value
        valid = ", ".join(repr(c) for c in choices)
        close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ParameterError(
            name, value, f"`{name}`={value!r} is not valid{hint}: one of {valid} is needed."
        ) from None


def _as_path(name, value, expected):
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ParameterError(name, value, f"`{name}`={value!r} is not valid: {expected} is needed.")
    return Path(os.fspath(value)).expanduser()


def _existing_path(name, value):
    """None, or a file or folder that exists; returned as a str."""
    if value is None:
        return None
    expected = "None or the path of an existing file or folder"
    path = _as_path(name, value, expected)
    if not path.exists():
        raise ParameterError(
            name, value, f"`{name}`={str(value)!r} does not exist: {expected} is needed."
        )
    return str(path)


def _writable_folder(name, value, *, allow_none=False):
    """A folder that exists or can be created, and that we can write a file in.

    Tested for real: create any missing folders, write and delete a temporary file,
    then remove the folders that this check created, so validating has no side effect.
    """
    if allow_none and value is None:
        return None
    expected = ("None or " if allow_none else "") + (
        "a folder that exists or can be created, and is writable"
    )
    path = _as_path(name, value, expected)
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    try:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{str(path)!r} is a file")
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ParameterError(
            name,
            value,
            f"`{name}`={str(value)!r} is not usable ({reason}): {expected} is needed.",
        ) from None
    finally:
        for folder in missing:  # innermost first
            try:
                folder.rmdir()
            except OSError:
                break
    return str(path)


def _recipe_list(name, value):
    """A non-empty list of distinct recipe names, returned as a list of str."""
    valid = ", ".join(repr(c) for c in RECIPES)
    expected = f"a non-empty list of distinct names from {valid} is needed"
    is_list = isinstance(value, (list, tuple))
    if not is_list or not value:
        kind = "" if is_list or value is None else f" (a {type(value).__name__})"
        raise ParameterError(name, value, f"`{name}`={value!r}{kind} is not valid: {expected}.")
    for item in value:
        if not isinstance(item, str) or item not in RECIPES:
            close = difflib.get_close_matches(item, RECIPES, n=1) if isinstance(item, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParameterError(
                name,
                value,
                f"`{name}`={value!r} is not valid: {item!r}{hint} is unknown; {expected}.",
            )
    repeated = sorted({item for item in value if value.count(item) > 1})
    if repeated:
        raise ParameterError(
            name, value, f"`{name}`={value!r} is not valid: {repeated[0]!r} repeats; {expected}."
        )
    return [str(item) for item in value]


# name -> checker(name, value) returning the normalized value.
_CHECKS = {
    "model": lambda n, v: _choice(n, v, MODEL_NAMES),
    "dataset": lambda n, v: _choice(n, v, DATASET_NAMES),
    "data_path": _existing_path,
    "epochs": lambda n, v: _int_at_least(n, v, 1),
    "batch_size": lambda n, v: _int_at_least(n, v, 1),
    "image_size": lambda n, v: _int_at_least(n, v, 1),
    "patch_size": lambda n, v: _int_at_least(n, v, 1),
    "embedding_dim": lambda n, v: _int_at_least(n, v, 1),
    "num_blocks": lambda n, v: _int_at_least(n, v, 1),
    "dropout_rate": _rate,
    "learning_rate": lambda n, v: _float(n, v, minimum=0, inclusive=False),
    "weight_decay": lambda n, v: _float(n, v, minimum=0, inclusive=True),
    "train_limit": lambda n, v: _int_at_least(n, v, MIN_TRAIN_LIMIT, allow_none=True),
    "seed": lambda n, v: _int_at_least(n, v, 0),
    "results_dir": _writable_folder,
    "checkpoint_dir": lambda n, v: _writable_folder(n, v, allow_none=True),
    "recipe": lambda n, v: _choice(n, v, tuple(RECIPES)),
    "augmentation": lambda n, v: _choice(n, v, AUGMENTATIONS),
    "ablation": _recipe_list,
}

#: Every parameter name a chapter may use, in the order of its parameters cell.
KNOWN_PARAMETERS = tuple(_CHECKS)


def validate_parameters(**params):
    """Check a chapter's parameters and return them normalized, in the order given.

    Every parameter is optional; the known names are :data:`KNOWN_PARAMETERS`:
    ``model`` (one of ``MODEL_NAMES``), ``dataset`` (one of ``DATASET_NAMES``),
    ``data_path`` (None or an existing file or folder), ``epochs``, ``batch_size``,
    ``image_size``, ``patch_size``, ``embedding_dim``, ``num_blocks`` (ints >= 1, and
    ``patch_size`` must divide ``image_size``), ``dropout_rate`` (in [0, 1)),
    ``learning_rate`` (> 0), ``weight_decay`` (>= 0), ``train_limit`` (None or an int
    >= 10), ``seed`` (an int >= 0), ``results_dir`` (a folder that exists or can be
    created, and is writable: checked by writing a file), ``checkpoint_dir`` (None or
    such a folder), ``recipe`` (a name from ``recipe.RECIPES``), ``augmentation`` (one of
    ``augment.AUGMENTATIONS``, and ``"randaugment"`` exactly when ``recipe`` has
    RandAugment) and ``ablation`` (a non-empty list of distinct recipe names). Ints must
    be ints: ``True``, ``2.5``, ``10.0`` and ``"10"`` are not.

    Returns: a dict of the same names with plain Python values (paths as ``str``).

    Raises:
        ParameterError: (a ``ValueError``) for the first problem found; the message names
            the parameter, the value and what would be valid.

    Example:
    >>> validate_parameters(epochs=3, image_size=64, patch_size=8, learning_rate=1e-3)
    {'epochs': 3, 'image_size': 64, 'patch_size': 8, 'learning_rate': 0.001}
    """
    unknown = [name for name in params if name not in _CHECKS]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, KNOWN_PARAMETERS, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise ParameterError(
            name,
            params[name],
            f"unknown parameter `{name}`={params[name]!r}{hint}; known parameters: "
            f"{', '.join(KNOWN_PARAMETERS)}.",
        )
    checked = {name: _CHECKS[name](name, value) for name, value in params.items()}

    if "image_size" in checked and "patch_size" in checked:
        image_size, patch_size = checked["image_size"], checked["patch_size"]
        if image_size % patch_size:
            valid = ", ".join(str(d) for d in range(1, image_size + 1) if image_size % d == 0)
            raise ParameterError(
                "patch_size",
                patch_size,
                f"`patch_size`={patch_size} does not divide `image_size`={image_size}; "
                f"valid patch sizes: {valid}.",
            )
    if "recipe" in checked and "augmentation" in checked:
        recipe = RECIPES[checked["recipe"]]
        if (checked["augmentation"] == "randaugment") != recipe.randaugment:
            needed = "'randaugment'" if recipe.randaugment else "'seed' or 'none'"
            raise ParameterError(
                "augmentation",
                params["augmentation"],
                f"`augmentation`={checked['augmentation']!r} does not fit "
                f"`recipe`={checked['recipe']!r}, which needs {needed}.",
            )
    if checked.get("dataset") == "offline" and checked.get("data_path") is not None:
        raise ParameterError(
            "data_path",
            params["data_path"],
            f"`data_path`={checked['data_path']!r} is not used with `dataset`='offline': "
            "set `data_path`=None, or `dataset` to 'cifar100' or 'auto'.",
        )
    return checked
