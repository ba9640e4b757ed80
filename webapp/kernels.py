"""Kernels: the small matrices that make image filters, and the rules for user-made ones.

The presets follow the "Kernel (image processing)" article that the lesson points to, and
the operators' original papers where they have one. Every preset is written for
cross-correlation (what deep-learning layers compute): ``sobel-x`` is positive where the
image gets brighter to the right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from webapp.errors import InvalidKernel, UnknownName
from webapp.matrices import number_matrix
from webapp.translation import N_
from webapp.translation import gettext as _


@dataclass(frozen=True)
class Kernel:
    """A named kernel: its weights and what it does.

    ``label`` and ``description`` are English, marked for the catalogue: the JSON of
    ``GET /kernels`` keeps them so, and a page shows them translated (``_(kernel.label)``).
    """

    name: str
    label: str
    weights: NDArray[np.float64]
    description: str

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label,
            "weights": self.weights.tolist(),
            "description": self.description,
        }


def _matrix(rows: Sequence[Sequence[float]], scale: float = 1.0) -> NDArray[np.float64]:
    matrix = np.array(rows, dtype=np.float64) * scale
    matrix.setflags(write=False)
    return matrix


# Identity: one 1 in the middle copies the image (a kernel that "does nothing").
IDENTITY = _matrix([[0, 0, 0], [0, 1, 0], [0, 0, 0]])

# Box blur: the plain average of the 3x3 neighbourhood ("Kernel (image processing)").
BOX_BLUR = _matrix([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 1 / 9)

# Gaussian blur 3x3: binomial weights (1 2 1) x (1 2 1) / 16, the article's approximation.
GAUSSIAN_BLUR = _matrix([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16)

# Gaussian blur 5x5: binomial weights (1 4 6 4 1) x (1 4 6 4 1) / 256, same article.
_BINOMIAL_5 = np.array([1, 4, 6, 4, 1], dtype=np.float64)
GAUSSIAN_BLUR_5 = _matrix(np.outer(_BINOMIAL_5, _BINOMIAL_5).tolist(), 1 / 256)

# Sharpen: the identity plus a negated 4-neighbour Laplacian (the article's "sharpen").
SHARPEN = _matrix([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])

# Unsharp masking 5x5: 2 x identity minus the 5x5 Gaussian; the article's matrix, whose
# centre is -476/256, negated.
UNSHARP_MASK = _matrix(
    [
        [1, 4, 6, 4, 1],
        [4, 16, 24, 16, 4],
        [6, 24, -476, 24, 6],
        [4, 16, 24, 16, 4],
        [1, 4, 6, 4, 1],
    ],
    -1 / 256,
)

# Sobel (Sobel & Feldman, 1968): a smoothed horizontal derivative.
SOBEL_X = _matrix([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
SOBEL_Y = _matrix(SOBEL_X.T.tolist())

# Prewitt (Prewitt, 1970): the same derivative with flat smoothing.
PREWITT_X = _matrix([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])
PREWITT_Y = _matrix(PREWITT_X.T.tolist())

# Scharr (Scharr, 2000): weights tuned for rotational symmetry of the gradient.
SCHARR_X = _matrix([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])
SCHARR_Y = _matrix(SCHARR_X.T.tolist())

# Laplacian: the discrete second derivative, 4-neighbour and 8-neighbour versions.
LAPLACIAN = _matrix([[0, 1, 0], [1, -4, 1], [0, 1, 0]])
LAPLACIAN_8 = _matrix([[1, 1, 1], [1, -8, 1], [1, 1, 1]])

# Outline: the article's third "edge detection" kernel (a negated 8-neighbour Laplacian).
OUTLINE = _matrix([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])

# Emboss: a diagonal derivative plus the identity, as in Setosa's kernel demo.
EMBOSS = _matrix([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])

# Motion blur: the average along a 9-cell diagonal, a camera moving while the shutter is open.
MOTION_BLUR = _matrix(np.eye(9).tolist(), 1 / 9)

PRESETS: dict[str, Kernel] = {
    kernel.name: kernel
    for kernel in [
        Kernel("identity", N_("Identity"), IDENTITY, N_("Copies the image: a 1 in the middle.")),
        Kernel("box-blur", N_("Box blur"), BOX_BLUR, N_("The average of each 3x3 neighbourhood.")),
        Kernel(
            "gaussian-blur", N_("Gaussian blur"), GAUSSIAN_BLUR,
            N_("A weighted average: near pixels count more than far ones."),
        ),
        Kernel(
            "gaussian-blur-5", N_("Gaussian blur 5x5"), GAUSSIAN_BLUR_5,
            N_("A wider Gaussian blur over a 5x5 neighbourhood."),
        ),
        Kernel(
            "sharpen", N_("Sharpen"), SHARPEN,
            N_("Each pixel minus its neighbours: differences get larger, edges crisper."),
        ),
        Kernel(
            "unsharp-mask", N_("Unsharp mask"), UNSHARP_MASK,
            N_("Adds back the difference between the image and its blur (5x5)."),
        ),
        Kernel(
            "sobel-x", N_("Sobel x"), SOBEL_X,
            N_("Horizontal gradient: positive where the image gets brighter to the right."),
        ),
        Kernel(
            "sobel-y", N_("Sobel y"), SOBEL_Y,
            N_("Vertical gradient: positive where the image gets brighter downwards."),
        ),
        Kernel(
            "prewitt-x", N_("Prewitt x"), PREWITT_X,
            N_("Horizontal gradient with flat smoothing."),
        ),
        Kernel(
            "prewitt-y", N_("Prewitt y"), PREWITT_Y,
            N_("Vertical gradient with flat smoothing."),
        ),
        Kernel(
            "scharr-x", N_("Scharr x"), SCHARR_X,
            N_("Horizontal gradient tuned to treat all edge directions alike."),
        ),
        Kernel(
            "scharr-y", N_("Scharr y"), SCHARR_Y,
            N_("Vertical gradient tuned to treat all edge directions alike."),
        ),
        Kernel(
            "laplacian", N_("Laplacian"), LAPLACIAN,
            N_("Second derivative: responds to edges in every direction, zero on flat areas."),
        ),
        Kernel(
            "laplacian-8", N_("Laplacian (8 neighbours)"), LAPLACIAN_8,
            N_("The Laplacian with the diagonal neighbours too."),
        ),
        Kernel(
            "outline", N_("Outline"), OUTLINE,
            N_("Strong edges of every direction, flat areas black."),
        ),
        Kernel("emboss", N_("Emboss"), EMBOSS, N_("A relief lit from the top left.")),
        Kernel(
            "motion-blur", N_("Motion blur"), MOTION_BLUR,
            N_("The average along a 9-pixel diagonal, like a camera moving during the shot."),
        ),
    ]
}


def preset(name: str) -> Kernel:
    """The preset called ``name``, or an error listing the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownName("kernel", name, sorted(PRESETS), field="kernel") from None


def kernel_from_weights(weights: object, *, max_size: int, field: str = "weights") -> Kernel:
    """A user's kernel (a 1-D or 2-D list of numbers), checked, or an error naming the rule.

    >>> kernel_from_weights([-1, 0, 1], max_size=31).weights.tolist()
    [-1.0, 0.0, 1.0]
    """
    matrix = number_matrix(weights, field=field, max_size=max_size, error=InvalidKernel)
    return Kernel("custom", N_("Custom"), matrix, N_("A kernel of your own."))


def resolve_kernel(name: str | None, weights: object, *, max_size: int) -> Kernel:
    """The kernel a request asks for: its own ``weights`` first, else the preset ``name``."""
    if weights is not None:
        return kernel_from_weights(weights, max_size=max_size)
    if name is None or name == "":
        raise InvalidKernel(
            _("kernel is required: give a preset name (see GET /kernels) or your own weights."),
            field="kernel",
        )
    return preset(name)


class PresetAnswer(BaseModel):
    """A preset kernel as `GET /kernels` lists it (the API's typed contract)."""

    name: str
    label: str
    weights: list[float] | list[list[float]]
    description: str

    @classmethod
    def of(cls, kernel: Kernel) -> PresetAnswer:
        return cls.model_validate(kernel.as_dict())
