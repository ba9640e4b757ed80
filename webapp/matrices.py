"""Matrices: 1-D or 2-D lists of numbers from JSON, checked before numpy sees them.

JSON from a user can hold anything: ragged rows, strings, ``NaN`` (Python's json accepts
it), a million cells. Each rule broken gets a message naming the field and the rule.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from webapp.errors import InvalidInput


def number_matrix(
    value: object,
    *,
    field: str,
    max_size: int,
    error: type[InvalidInput] = InvalidInput,
) -> NDArray[np.float64]:
    """``value`` as a read-only float64 array of 1 or 2 dimensions, or ``error``.

    >>> number_matrix([[1, 2], [3, 4]], field="input", max_size=8).shape
    (2, 2)
    """
    if not isinstance(value, list) or not value:
        raise error(f"{field} must be a non-empty list of numbers or of rows of numbers.",
                    field=field)
    if all(isinstance(row, list) for row in value):
        first = len(value[0])
        ragged = next((i for i, row in enumerate(value) if len(row) != first), None)
        if ragged is not None:
            raise error(
                f"{field} is ragged: row 0 has {first} values but row {ragged} has "
                f"{len(value[ragged])}; every row needs the same length.",
                field=field,
            )
        if first == 0:
            raise error(f"{field} has empty rows.", field=field)
        cells = [cell for row in value for cell in row]
    elif any(isinstance(row, list) for row in value):
        raise error(f"{field} mixes numbers and rows of numbers.", field=field)
    else:
        cells = value
    for cell in cells:
        if isinstance(cell, bool) or not isinstance(cell, int | float):
            raise error(f"{field} must hold numbers only, not {cell!r}.", field=field)
        try:
            finite = math.isfinite(cell)
        except OverflowError:  # an integer past float's range, e.g. 400 digits long
            raise error(
                f"{field} holds a {len(str(abs(cell)))}-digit integer; numbers must lie within "
                "+-1.8e308.",
                field=field,
            ) from None
        if not finite:
            raise error(f"{field} must hold finite numbers, not {cell!r}.", field=field)
    matrix = np.array(value, dtype=np.float64)
    if max(matrix.shape) > max_size:
        shape = "x".join(map(str, matrix.shape))
        raise error(f"{field} is {shape}; at most {max_size} per side is allowed.", field=field)
    matrix.setflags(write=False)
    return matrix


def order_of_magnitude(values: NDArray[np.generic]) -> str:
    """The power of ten of the largest finite magnitude in ``values``, as an error message
    names numbers too large to compute with.

    >>> order_of_magnitude(np.array([1.5e308, -3.0]))
    '1e308'
    """
    magnitudes = np.abs(values[np.isfinite(values)])
    largest = float(magnitudes.max()) if magnitudes.size else 0.0
    return f"1e{int(np.floor(np.log10(largest)))}" if largest >= 1 else f"{largest:g}"
