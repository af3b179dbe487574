"""The argument checks every module of the book's helpers uses; it imports nothing of ours.

Every check fails the same way: a :class:`ParameterError` (a ``ValueError``) whose message
names the argument, shows the value and says what is valid, and returns the value
normalized (an int as ``int``, a path as an absolute ``str``).
"""

import difflib
import numbers
import os
import tempfile
from pathlib import Path


class ParameterError(ValueError):
    """One bad argument; the message names it, its ``value`` and what is valid."""

    def __init__(self, parameter, value, message):
        super().__init__(message)
        self.parameter, self.value = parameter, value


def _is_int(value):  # an integer, and not True, 10.0 or "10"
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):  # a real number, ints included, and not True or "1.0"
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def reject(name, value, needed, *, ok=None, problem="is not valid"):
    """Raise the one message every check gives: ``name``, ``value`` (with its type, ``(a
    str)``, when ``ok(value)`` is false), the ``problem`` and what is ``needed``."""
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
        reject(name, value, f"{none}an int >= {minimum}", ok=_is_int)
    return int(value)


def check_positive_int(name, value):
    """Return ``value`` as an int if it is an int >= 1, else raise a ``ParameterError``."""
    return check_int(name, value, 1)


def check_rate(name, value):
    """Return ``value`` as a float if it is a number in [0, 1), else raise."""
    if not _is_real(value) or not 0 <= value < 1:  # also false for NaN
        reject(name, value, "a number in [0, 1)", ok=_is_real)
    return float(value)


def check_number(name, value, *, minimum, inclusive):
    """Return a finite number > ``minimum`` (>= when ``inclusive``) as a float."""
    bound = f"{'>=' if inclusive else '>'} {minimum:g}"
    above = _is_real(value) and (value >= minimum if inclusive else value > minimum)
    if not (above and float(value) < float("inf")):  # also false for NaN
        reject(name, value, f"a finite number {bound}", ok=_is_real)
    return float(value)


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise, listing them."""
    choices = tuple(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        reject(name, value, f"one of {valid}", problem=f"is not valid{suggest(value, choices)}")
    return value


def _as_path(name, value, needed):
    """``value`` as an absolute path, ``~`` expanded: relative to the current directory."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        reject(name, value, needed)
    return Path(os.path.abspath(os.path.expanduser(os.fspath(value))))


def existing_path(name, value):
    """None, or a file or folder that exists; returned as an absolute path (a str)."""
    if value is None:
        return None
    needed = "None or the path of an existing file or folder"
    path = _as_path(name, value, needed)
    if not path.exists():
        reject(name, value, needed, problem="does not exist")
    return str(path)


def writable_folder(name, value):
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
        reject(name, value, needed, problem=f"is not usable ({exc.strerror or exc})")
    finally:
        for folder in missing:  # innermost first
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return str(path)


def check_bool(name, value):
    """Return ``value`` if it is ``True`` or ``False`` (not 1, "False" or None)."""
    if not isinstance(value, bool):
        reject(name, value, "True or False", ok=lambda v: isinstance(v, bool))
    return value


def check_patch_size(image_size, patch_size):
    """Return ``patch_size`` if it divides ``image_size`` (both checked ints), else raise,
    listing the divisors."""
    image_size = check_positive_int("image_size", image_size)
    patch_size = check_positive_int("patch_size", patch_size)
    if image_size % patch_size:
        valid = ", ".join(str(d) for d in range(1, image_size + 1) if image_size % d == 0)
        problem = f"does not divide `image_size`={image_size}"
        reject("patch_size", patch_size, f"one of its divisors {valid}", problem=problem)
    return patch_size
