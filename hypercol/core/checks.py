"""What counts as a number in an argument: Python's and numpy's numbers, never a bool.

To Python, True is the int 1; as a knob, a count or a setting it is a mistake, so every
argument check of the project asks these two questions rather than ``isinstance`` alone.
Nothing else is imported: the model card's checks run without numpy or TensorFlow.
"""

from __future__ import annotations

import numbers

__all__ = ["check_number", "is_real_number", "is_whole_number"]


def is_real_number(value) -> bool:
    """A real number (an int, a float, numpy's too), not a bool (numpy's bool is no ``numbers.Real``)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_whole_number(value) -> bool:
    """An integer (Python's or numpy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_number(value, name: str, allowed: str, holds) -> None:
    """ValueError "``name`` must be ``allowed``, got ``value``" unless ``value`` is a real number (not a bool)
    for which ``holds(value)`` is true (NaN holds no comparison)."""
    if not is_real_number(value) or not holds(value):
        msg = f"{name} must be {allowed}, got {value!r}"
        raise ValueError(msg)
