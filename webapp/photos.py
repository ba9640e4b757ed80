"""Photos: one uploaded image through a kernel, from bytes to an answer.

Decode (with the upload limits), convolve, turn the signed output into pixels, encode.
The API, the pages and the command line all call `convolve_photo`, so they agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from webapp.arithmetic import Costs, convolution_costs
from webapp.convolution import Convolution, convolve
from webapp.display import Display, default_display, to_pixels
from webapp.errors import InvalidArithmetic
from webapp.images import DecodedImage, decode_image, encode_image
from webapp.kernels import Kernel, resolve_kernel
from webapp.options import PhotoOptions
from webapp.settings import Settings


@dataclass
class PhotoResult:
    """A convolved photo: the numbers, the picture and where the time went."""

    source: DecodedImage
    kernel: Kernel
    convolution: Convolution
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


def convolve_photo(data: bytes, options: PhotoOptions, settings: Settings) -> PhotoResult:
    """Run one photo request; raises a `webapp.errors.ConvlensError` for any bad input."""
    kernel = resolve_kernel(options.kernel, options.weights, max_size=settings.max_kernel_size)
    started = time.perf_counter()
    source = decode_image(data, max_pixels=settings.max_pixels, color=options.color)
    decoded = time.perf_counter()
    _check_padded_size(source.pixels.shape, kernel, options, settings)
    convolution = convolve(
        source.pixels,
        kernel.weights,
        stride=options.stride,
        padding=options.padding,
        padding_mode=options.padding_mode,
        dilation=options.dilation,
        flip=options.flip,
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
        costs=convolution_costs(
            _shape_hwc(source.pixels.shape),
            _shape_hwc(convolution.output.shape),
            convolution.kernel.shape,
        ),
        timings_ms={
            "decode": (decoded - started) * 1000,
            "compute": (computed - decoded) * 1000,
            "display": (shown - computed) * 1000,
            "encode": (finished - shown) * 1000,
        },
    )


def _check_padded_size(
    shape: tuple[int, ...], kernel: Kernel, options: PhotoOptions, settings: Settings
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
    if padded > 2 * settings.max_pixels:
        raise InvalidArithmetic(
            f"The padded image would be about {padded:,} pixels ({shape[1]}x{shape[0]} plus "
            f"{extra} per side), over twice the {settings.max_pixels:,}-pixel limit; use less "
            "padding or dilation.",
            field="padding",
        )
