"""Filter banks: whole layers of filters, each cited like the preset kernels.

A preset (`webapp.kernels`) is one 2-D kernel; a bank is what a convolutional layer holds,
``N`` filters of ``C_in x k_h x k_w`` weights and a bias each. The designed banks show what
hand-made filters look for (edges, colour opposition, oriented stripes); the learned ones
are the first layers of the trained autoencoders, read from their ONNX files
(`webapp.autoencoder.onnxfile`), so a learner sees filters that nobody designed; the random
one is a layer before training.

Banks made for gray images (edges, Gabor) *spread* over any number of channels: over ``C``
channels each filter gets ``1/C`` of its kernel on every channel, so it answers the
channels' mean as it would answer a gray image.

A bank's ``label`` is English, the source text (``GET /banks`` answers with it); a page shows
`shown_label`, in the reader's language.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from webapp.errors import InvalidInput, UnknownName
from webapp.kernels import SOBEL_X, SOBEL_Y
from webapp.layer import Activation
from webapp.translation import N_, gettext

_PHOTO_ADVICE = {3: N_("; send the photo with color=rgb."),
                 1: N_("; send the photo with color=gray.")}
"""What to do when a bank made for a colour (or a gray) photo meets the other kind."""


@dataclass(frozen=True)
class Bank:
    """A named bank of filters (``N x C x k_h x k_w``) and their biases."""

    name: str
    label: str
    """Its name for people, in English (marked `N_`): a page shows `shown_label`."""
    description: str
    citation: str
    filters: NDArray[np.float64]
    bias: NDArray[np.float64]
    spreads: bool = False
    """Made for one channel, usable on any number (each channel gets 1/C of the kernel)."""
    activation: Activation = "none"
    """The activation the filters were made (or trained) to feed."""
    model_title: str | None = None
    """A learned bank's model, by its card's title (which its label names)."""

    @property
    def channels(self) -> int | None:
        """Input channels each filter spans; None for a bank that spreads over any number."""
        return None if self.spreads else int(self.filters.shape[1])

    def over(self, channels: int) -> Bank:
        """This bank for an input of ``channels`` channels, or an error naming ``bank``."""
        if self.spreads:
            spread = np.repeat(self.filters, channels, axis=1) / channels
            spread.setflags(write=False)
            return replace(self, filters=spread)
        made_for = int(self.filters.shape[1])
        if made_for != channels:
            advice = _PHOTO_ADVICE.get(made_for)
            raise InvalidInput(
                gettext("bank %(name)s has filters over %(made_for)s channel(s), but the input "
                        "has %(channels)s", name=repr(self.name), made_for=made_for,
                        channels=channels) + ("." if advice is None else gettext(advice)),
                field="bank",
            )
        return self


def _frozen(values: NDArray[np.float64]) -> NDArray[np.float64]:
    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


def _one_channel(kernels: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    """N kernels of one size as N filters over one channel."""
    return _frozen(np.stack(kernels)[:, np.newaxis])


# Edges in four directions: Sobel's operator (Sobel & Feldman, 1968) along x and y, and the
# same smoothed derivative turned by 45 degrees (the "diagonal Sobel" masks of Gonzalez &
# Woods, Digital Image Processing, 3rd ed., section 10.2.5).
_DIAGONAL_DOWN_RIGHT = np.array([[-2, -1, 0], [-1, 0, 1], [0, 1, 2]], dtype=np.float64)
_DIAGONAL_DOWN_LEFT = np.array([[0, -1, -2], [1, 0, -1], [2, 1, 0]], dtype=np.float64)
EDGES = Bank(
    name="edges",
    label=N_("Edges, four directions"),
    description="Sobel gradients to the right, downwards, down-right and down-left: each map "
    "is positive where the image gets brighter in its direction.",
    citation="Sobel & Feldman, 'A 3x3 isotropic gradient operator for image processing' "
    "(1968); diagonal masks: Gonzalez & Woods, Digital Image Processing, 3rd ed., 10.2.5.",
    filters=_one_channel([SOBEL_X, SOBEL_Y, _DIAGONAL_DOWN_RIGHT, _DIAGONAL_DOWN_LEFT]),
    bias=_frozen(np.zeros(4)),
    spreads=True,
)

# The opponent colour space of van de Sande, Gevers & Snoek (IEEE TPAMI 32(9), 2010):
# O1 = (R - G) / sqrt 2, O2 = (R + G - 2B) / sqrt 6 (negated here: blue against yellow),
# O3 = (R + G + B) / sqrt 3. Each is a 1x1 filter: it mixes channels and looks at no
# neighbour, the point of a 1x1 convolution.
_OPPONENTS = np.array(
    [
        [1 / math.sqrt(2), -1 / math.sqrt(2), 0.0],
        [-1 / math.sqrt(6), -1 / math.sqrt(6), 2 / math.sqrt(6)],
        [1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)],
    ]
)
COLOUR_OPPONENTS = Bank(
    name="colour-opponents",
    label=N_("Colour opponents (1x1, RGB)"),
    description="Red against green, blue against yellow, and luminance: three 1x1 filters "
    "over the red, green and blue channels, mixing colours without looking at neighbours.",
    citation="van de Sande, Gevers & Snoek, 'Evaluating Color Descriptors for Object and "
    "Scene Recognition', IEEE TPAMI 32(9), 2010 (the opponent colour space); Hering's "
    "opponent-process theory of colour vision (1892).",
    filters=_frozen(_OPPONENTS[:, :, np.newaxis, np.newaxis]),
    bias=_frozen(np.zeros(3)),
)


def _gabor(wavelength: float, theta: float, size: int) -> NDArray[np.float64]:
    """An even (cosine) Gabor kernel, its mean removed (flat areas give 0) and scaled so
    that its positive weights sum to 1 (a step of 255 answers at most 255)."""
    sigma = 0.56 * wavelength  # a bandwidth of one octave (Daugman's cells: 1 to 1.5)
    kernel = cv2.getGaborKernel((size, size), sigma, theta, wavelength, 1.0, 0.0,
                                ktype=cv2.CV_64F)
    kernel = kernel - kernel.mean()
    return np.asarray(kernel / kernel[kernel > 0].sum(), dtype=np.float64)


GABOR_SIZE = 11
GABOR = Bank(
    name="gabor",
    label=N_("Gabor, 4 orientations x 2 scales"),
    description="Oriented stripes at 0, 45, 90 and 135 degrees, with wavelengths of 4 and "
    "8 pixels (11x11): the receptive fields of simple cells in the visual cortex, and what "
    "trained networks' first layers tend to learn.",
    citation="Daugman, 'Uncertainty relation for resolution in space, spatial frequency, "
    "and orientation optimized by two-dimensional visual cortical filters', JOSA A 2(7), "
    "1985; kernels from OpenCV's getGaborKernel.",
    filters=_one_channel([
        _gabor(wavelength, theta, GABOR_SIZE)
        for wavelength in (4.0, 8.0)
        for theta in (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4)
    ]),
    bias=_frozen(np.zeros(8)),
    spreads=True,
)

RANDOM = "random-he"
RANDOM_FILTERS = 16
RANDOM_SIZE = 3


def he_bank(
    channels: int, *, maps: int = RANDOM_FILTERS, size: int = RANDOM_SIZE, seed: int = 0
) -> Bank:
    """``maps`` random ``size x size`` filters over ``channels`` channels, as a layer is
    before training: He (Kaiming) initialisation, weights from a normal distribution with
    variance ``2 / fan_in`` (``fan_in = channels * size * size``), biases zero.

    >>> bank = he_bank(3, seed=1)
    >>> bank.filters.shape, bool((bank.filters == he_bank(3, seed=1).filters).all())
    ((16, 3, 3, 3), True)
    """
    fan_in = channels * size * size
    weights = np.random.default_rng(seed).normal(0.0, math.sqrt(2.0 / fan_in),
                                                 (maps, channels, size, size))
    return Bank(
        name=RANDOM,
        label=N_("Random (He initialisation)"),
        description=f"{maps} random {size}x{size} filters, as a layer starts before "
        f"training (seed {seed}): what the learned banks looked like on day one.",
        citation="He, Zhang, Ren & Sun, 'Delving Deep into Rectifiers', ICCV 2015 "
        "(weights ~ N(0, 2 / fan_in), biases 0).",
        filters=_frozen(weights),
        bias=_frozen(np.zeros(maps)),
        activation="relu",
    )


LEARNED_LABEL = N_("Learned: %(title)s, first layer")
"""A learned bank's label: its model's title fills it in."""

DESIGNED: dict[str, Bank] = {bank.name: bank for bank in (EDGES, COLOUR_OPPONENTS, GABOR)}
"""The hand-made banks, by name (the random and the learned ones are made on request)."""


def learned_bank(
    model: str, title: str, layer: str, weights: NDArray[np.float32], bias: NDArray[np.float32]
) -> Bank:
    """The first conv layer of the trained autoencoder ``model`` as a bank (ReLU follows it
    in the model), from the weights read out of its ONNX file."""
    maps, _, height, width = weights.shape
    return Bank(
        name=f"learned-{model}",
        label=LEARNED_LABEL % {"title": title},
        description=f"The {maps} {height}x{width} filters (and biases) the {model!r} "
        f"autoencoder learned in its first layer ({layer}, then ReLU) by training on MNIST "
        "digits: nobody designed them.",
        citation=f"models/{model}.onnx, trained by models/train.py (its card: "
        f"models/{model}.json); initializers {layer}.weight and {layer}.bias.",
        filters=_frozen(weights.astype(np.float64)),
        bias=_frozen(bias.astype(np.float64)),
        activation="relu",
        model_title=title,
    )


def shown_label(bank: Bank) -> str:
    """``bank``'s label in the reader's language."""
    if bank.model_title is not None:
        return gettext(LEARNED_LABEL, title=gettext(bank.model_title))
    return gettext(bank.label)


def resolve_bank(
    name: str, *, channels: int, seed: int = 0, learned: Mapping[str, Bank] | None = None
) -> Bank:
    """The bank called ``name`` for an input of ``channels`` channels, or an error naming
    ``bank`` (unknown, or made for another number of channels)."""
    if name == RANDOM:
        return he_bank(channels, seed=seed)
    found = DESIGNED.get(name) or (learned or {}).get(name)
    if found is None:
        valid = sorted([*DESIGNED, RANDOM, *(learned or {})])
        raise UnknownName("bank", name, valid, field="bank")
    return found.over(channels)


def catalog(learned: Mapping[str, Bank] | None = None) -> list[Bank]:
    """Every bank, as `GET /banks` lists it: the designed ones, the random one (seed 0, one
    channel) and the learned ones."""
    return [*DESIGNED.values(), he_bank(1), *(learned or {}).values()]


class BankAnswer(BaseModel):
    """A filter bank as `GET /banks` lists it (the API's typed contract)."""

    name: str
    label: str
    description: str
    citation: str
    channels: int | None = Field(
        None, description="Input channels each filter spans; absent for a bank made for one "
        "channel that spreads over any number (each channel gets 1/C of the kernel)."
    )
    shape: list[int] = Field(description="N x C x k_h x k_w, as listed (one channel when "
                                         "the bank spreads).")
    activation: Activation = Field(description="The activation the filters were made for.")
    filters: list[list[list[list[float]]]]
    bias: list[float]

    @classmethod
    def of(cls, bank: Bank) -> BankAnswer:
        return cls(
            name=bank.name, label=bank.label, description=bank.description,
            citation=bank.citation, channels=bank.channels, shape=list(bank.filters.shape),
            activation=bank.activation, filters=bank.filters.tolist(), bias=bank.bias.tolist(),
        )
