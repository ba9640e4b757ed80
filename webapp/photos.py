"""Photos: one uploaded image through a kernel, from bytes to an answer.

Decode (with the upload limits), convolve (or pool), turn the signed output into pixels,
encode. The API, the pages and the command line all call `convolve_photo`, so they agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from webapp.arithmetic import AxisArithmetic, Costs, convolution_costs
from webapp.convolution import Convolution, convolve
from webapp.display import Display, default_display, to_pixels
from webapp.errors import InvalidArithmetic
from webapp.images import DecodedImage, data_url, decode_image, encode_image
from webapp.kernels import Kernel, resolve_kernel
from webapp.options import PhotoOptions, SampleName
from webapp.pooling import Pooling, pool, window_kernel


@dataclass
class PhotoResult:
    """A convolved photo: the numbers, the picture and where the time went."""

    source: DecodedImage
    kernel: Kernel
    """The kernel; when pooling, the window (ones for max, the mean's weights for average)."""
    convolution: Convolution | Pooling
    """The convolution, or the pooling when ``options.operation`` asks for one."""
    display: Display
    pixels: NDArray[np.uint8]
    encoded: bytes
    options: PhotoOptions
    costs: Costs
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def input_shape(self) -> list[int]:
        return _shape_hwc(self.source.pixels.shape)

    @property
    def output_shape(self) -> list[int]:
        return _shape_hwc(self.convolution.output.shape)

    @property
    def operation(self) -> str:
        """What was computed: cross-correlation, convolution, max-pool or avg-pool."""
        if self.options.operation != "convolve":
            return self.options.operation
        return "convolution" if self.options.flip else "cross-correlation"

    def stats(self) -> dict[str, float]:
        output = self.convolution.output
        return {
            "min": float(output.min()),
            "max": float(output.max()),
            "mean": float(output.mean(dtype=np.float64)),
        }


def _shape_hwc(shape: tuple[int, ...]) -> list[int]:
    """``[height, width, channels]``, as the lesson prints shapes."""
    return [shape[0], shape[1], shape[2] if len(shape) == 3 else 1]


WORKING_SIDES = (256, 512, 1024, 2048)
"""The working sizes the pages offer (the longer side, in pixels), besides the full size."""
DEFAULT_WORKING_SIDE = 1024
"""What the pages compute on unless the learner picks another working size: about what a
screen shows of a photo, where a 3x3 kernel's response is still visible."""


def convolve_photo(
    data: bytes, options: PhotoOptions, *, max_pixels: int, max_kernel_size: int
) -> PhotoResult:
    """Run one photo request; raises a `webapp.errors.ConvlensError` for any bad input.

    ``max_pixels`` bounds the decoded photo (checked before decoding) and, doubled, the
    padded one; ``max_kernel_size`` bounds the kernel's or pooling window's side. With
    ``options.max_side`` the photo is fitted to that working size first.
    """
    kernel = _kernel_of(options, max_kernel_size)
    started = time.perf_counter()
    source = decode_image(data, max_pixels=max_pixels, color=options.color,
                          max_side=options.max_side)
    decode_ms = (time.perf_counter() - started) * 1000
    return _convolve(source, kernel, options, max_pixels=max_pixels, decode_ms=decode_ms)


def convolve_decoded(
    source: DecodedImage, options: PhotoOptions, *, max_pixels: int, max_kernel_size: int
) -> PhotoResult:
    """`convolve_photo` on a photo decoded earlier (the pages keep the uploads they work
    on decoded), already in ``options.color`` and at the working size."""
    kernel = _kernel_of(options, max_kernel_size)
    return _convolve(source, kernel, options, max_pixels=max_pixels, decode_ms=0.0)


def _kernel_of(options: PhotoOptions, max_kernel_size: int) -> Kernel:
    """The kernel asked for; when pooling, the window (checked before any pixel is read)."""
    kind = options.pool_kind
    return (
        resolve_kernel(options.kernel, options.weights, max_size=max_kernel_size)
        if kind is None
        else window_kernel(kind, options.pool_size, max_size=max_kernel_size)
    )


def _convolve(
    source: DecodedImage, kernel: Kernel, options: PhotoOptions, *, max_pixels: int,
    decode_ms: float,
) -> PhotoResult:
    kind = options.pool_kind
    decoded = time.perf_counter()
    _check_padded_size(source.pixels.shape, kernel, options, max_pixels=max_pixels)
    convolution: Convolution | Pooling = (
        convolve(source.pixels, kernel.weights, **options.geometry())
        if kind is None
        else pool(
            source.pixels,
            kind=kind,
            size=options.pool_size,
            stride=options.stride,
            padding=options.padding,
            dilation=options.dilation,
        )
    )
    computed = time.perf_counter()
    display = options.display or default_display(kernel.weights)
    pixels = to_pixels(convolution.output, display)
    shown = time.perf_counter()
    encoded = encode_image(pixels, options.format)
    finished = time.perf_counter()
    return PhotoResult(
        source=source,
        kernel=kernel,
        convolution=convolution,
        display=display,
        pixels=pixels,
        encoded=encoded,
        options=options,
        costs=_costs(source.pixels.shape, convolution, kernel),
        timings_ms={
            "decode": decode_ms,
            "compute": (computed - decoded) * 1000,
            "display": (shown - computed) * 1000,
            "encode": (finished - shown) * 1000,
        },
    )


def _costs(
    input_shape: tuple[int, ...], computed: Convolution | Pooling, kernel: Kernel
) -> Costs:
    """What the layer costs; a pooling layer has no weights at all (the lesson's point)."""
    if isinstance(computed, Convolution):
        return convolution_costs(
            _shape_hwc(input_shape), _shape_hwc(computed.output.shape), computed.kernel.shape
        )
    costs = convolution_costs(
        _shape_hwc(input_shape), _shape_hwc(computed.output.shape), kernel.weights.shape
    )
    return replace(costs, params=0)


def sample_photo(name: SampleName, static_dir: Path) -> bytes:
    """The bytes of a bundled sample photo (``static/samples``), decoded like any upload."""
    return (static_dir / "samples" / f"{name}.jpg").read_bytes()


def _check_padded_size(
    shape: tuple[int, ...], kernel: Kernel, options: PhotoOptions, *, max_pixels: int
) -> None:
    """Refuse paddings that would build an image far larger than any upload may be."""
    kernel_height, kernel_width = (1, kernel.weights.shape[0]) if kernel.weights.ndim == 1 else (
        kernel.weights.shape
    )
    reach = max(kernel_height, kernel_width) * options.dilation
    extra = reach if options.padding == "full" else (
        options.padding if isinstance(options.padding, int) else reach
    )
    padded = (shape[0] + 2 * extra) * (shape[1] + 2 * extra)
    if padded > 2 * max_pixels:
        raise InvalidArithmetic(
            f"The padded image would be about {padded:,} pixels ({shape[1]}x{shape[0]} plus "
            f"{extra} per side), over twice the {max_pixels:,}-pixel limit; use less "
            "padding or dilation.",
            field="padding",
        )


# --- The JSON answer ---------------------------------------------------------------------
# The API's contract for a convolved photo: these models are the OpenAPI schema that
# generated clients are built from, so every field is typed and described.


class PlaneArithmetic(BaseModel):
    """Each axis's output-size arithmetic, with the formula filled in."""

    height: AxisArithmetic
    width: AxisArithmetic


class KernelInUse(BaseModel):
    """The kernel that was applied (for pooling: the window)."""

    name: str
    weights: list[float] | list[list[float]]


class OutputStats(BaseModel):
    """The output's range and mean, before it was turned into pixels."""

    min: float
    max: float
    mean: float


class PhotoAnswer(BaseModel):
    """A convolved (or pooled) photo: shapes are ``[height, width, channels]``."""

    input_shape: list[int]
    output_shape: list[int]
    padding: dict[str, int] = Field(description="Cells of padding on each side, by name.")
    arithmetic: PlaneArithmetic
    kernel: KernelInUse
    operation: str = Field(description="cross-correlation, convolution, max-pool or avg-pool.")
    display: Display
    stats: OutputStats
    params: int = Field(description="Weights of the layer (0 for pooling).")
    macs: int = Field(description="Multiply-adds.")
    linear_params: int = Field(description="Weights of a linear layer in its place.")
    elapsed_ms: float
    timings_ms: dict[str, float]
    engine: str
    image: str = Field(description="The output image as a data URL.")

    @classmethod
    def of(cls, result: PhotoResult) -> Self:
        """The answer describing ``result``."""
        convolution = result.convolution
        return cls(
            input_shape=result.input_shape,
            output_shape=result.output_shape,
            padding=convolution.padding_sides(),
            arithmetic=PlaneArithmetic(height=convolution.rows, width=convolution.columns),
            kernel=KernelInUse(name=result.kernel.name, weights=result.kernel.weights.tolist()),
            operation=result.operation,
            display=result.display,
            stats=OutputStats(**result.stats()),
            params=result.costs.params,
            macs=result.costs.macs,
            linear_params=result.costs.linear_params,
            elapsed_ms=round(sum(result.timings_ms.values()), 3),
            timings_ms={name: round(value, 3) for name, value in result.timings_ms.items()},
            engine=convolution.engine,
            image=data_url(result.encoded, result.options.format),
        )

