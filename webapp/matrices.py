"""Matrices: 1-D or 2-D lists of numbers from JSON, checked before numpy sees them.

JSON from a user can hold anything: ragged rows, strings, ``NaN`` (Python's json accepts
it), a million cells. Each rule broken gets a message naming the field and the rule.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from webapp.errors import InvalidInput
from webapp.translation import gettext as _


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
        raise error(_("%(field)s must be a non-empty list of numbers or of rows of numbers.",
                      field=field), field=field)
    if all(isinstance(row, list) for row in value):
        first = len(value[0])
        ragged = next((i for i, row in enumerate(value) if len(row) != first), None)
        if ragged is not None:
            raise error(
                _("%(field)s is ragged: row 0 has %(first)s values but row %(row)s has "
                  "%(count)s; every row needs the same length.", field=field, first=first,
                  row=ragged, count=len(value[ragged])),
                field=field,
            )
        if first == 0:
            raise error(_("%(field)s has empty rows.", field=field), field=field)
        cells = [cell for row in value for cell in row]
    elif any(isinstance(row, list) for row in value):
        raise error(_("%(field)s mixes numbers and rows of numbers.", field=field), field=field)
    else:
        cells = value
    for cell in cells:
        if isinstance(cell, bool) or not isinstance(cell, int | float):
            raise error(_("%(field)s must hold numbers only, not %(value)s.", field=field,
                          value=repr(cell)), field=field)
        try:
            finite = math.isfinite(cell)
        except OverflowError:  # an integer past float's range, e.g. 400 digits long
            raise error(
                _("%(field)s holds a %(digits)s-digit integer; numbers must lie within "
                  "+-1.8e308.", field=field, digits=len(str(abs(cell)))),
                field=field,
            ) from None
        if not finite:
            raise error(_("%(field)s must hold finite numbers, not %(value)s.", field=field,
                          value=repr(cell)), field=field)
    matrix = np.array(value, dtype=np.float64)
    if max(matrix.shape) > max_size:
        shape = "x".join(map(str, matrix.shape))
        raise error(_("%(field)s is %(shape)s; at most %(limit)s per side is allowed.",
                      field=field, shape=shape, limit=max_size), field=field)
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
