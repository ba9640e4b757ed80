"""Photos: one uploaded image through a kernel, from bytes to an answer.

Decode (with the upload limits), convolve (or pool), turn the signed output into pixels,
encode. The API, the pages and the command line all call `convolve_photo`, so they agree.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from webapp.arithmetic import AxisArithmetic, Costs, convolution_costs
from webapp.banks import Bank, resolve_bank
from webapp.convolution import Convolution, convolve
from webapp.display import (
    GRID_GAP,
    Display,
    default_display,
    default_layer_display,
    feature_map_pictures,
    grid_shape,
    tile,
    to_pixels,
)
from webapp.errors import InvalidArithmetic, InvalidInput
from webapp.images import DecodedImage, data_url, decode_image, encode_image
from webapp.kernels import Kernel, resolve_kernel
from webapp.layer import (
    MAX_CHANNELS,
    MAX_FILTERS,
    Activation,
    FeatureMaps,
    Layer,
    apply_layer,
    check_work,
    layer_geometry,
    make_layer,
    number_array,
)
from webapp.numeric import LayerFilters
from webapp.options import PhotoOptions, SampleName
from webapp.pooling import Pooling, pool, window_kernel
from webapp.translation import gettext as _


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
    _check_padded_size(source.pixels.shape, _kernel_shape(kernel), options,
                       max_pixels=max_pixels)
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


def _kernel_shape(kernel: Kernel) -> tuple[int, int]:
    """Height and width of a kernel; a 1-D kernel is one row."""
    if kernel.weights.ndim == 1:
        return 1, int(kernel.weights.shape[0])
    return int(kernel.weights.shape[0]), int(kernel.weights.shape[1])


def _check_padded_size(
    shape: tuple[int, ...], kernel_shape: tuple[int, int], options: PhotoOptions, *,
    max_pixels: int,
) -> None:
    """Refuse paddings that would build an image far larger than any upload may be."""
    kernel_height, kernel_width = kernel_shape
    reach = max(kernel_height, kernel_width) * options.dilation
    extra = reach if options.padding == "full" else (
        options.padding if isinstance(options.padding, int) else reach
    )
    padded = (shape[0] + 2 * extra) * (shape[1] + 2 * extra)
    if padded > 2 * max_pixels:
        raise InvalidArithmetic(
            _("The padded image would be about %(pixels)s pixels (%(width)sx%(height)s plus "
              "%(extra)s per side), over twice the %(limit)s-pixel limit; use less padding or "
              "dilation.", pixels=format(padded, ","), width=shape[1], height=shape[0], extra=extra,
              limit=format(max_pixels, ",")),
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



# --- a whole layer on a photo ----------------------------------------------------------------
# With `filters` or a `bank`, the photo (C_in = 3 for rgb, 1 for gray) goes through a conv
# layer, and the answer is its N feature maps tiled in one picture.


@dataclass
class LayerPhotoResult:
    """A photo through a conv layer: its feature maps, their picture, where the time went."""

    source: DecodedImage
    maps: FeatureMaps
    display: Display
    pixels: NDArray[np.uint8]
    """The maps tiled in a grid (`webapp.display.tile`), each drawn the ``display`` way."""
    encoded: bytes
    options: PhotoOptions
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def values(self) -> NDArray[np.uint8]:
        """The layer's input, channels first (C_in x H x W), as the maps were computed."""
        pixels = self.source.pixels
        return np.moveaxis(pixels, 2, 0) if pixels.ndim == 3 else pixels[np.newaxis]


def photo_channels(options: PhotoOptions) -> int:
    """C_in of a photo: 3 for ``rgb``, 1 for ``gray``."""
    return 3 if options.color == "rgb" else 1


def photo_layer(
    options: PhotoOptions, channels: int, *, max_kernel_size: int,
    learned: Mapping[str, Bank] | None = None,
) -> Layer:
    """The layer a photo request asks for (``filters`` or a ``bank``), for ``channels``."""
    if options.operation != "convolve":
        raise InvalidInput(
            _("filters make a conv layer; operation %(operation)s takes none.",
              operation=repr(options.operation)),
            field="filters" if options.filters is not None else "bank",
        )
    bias = (None if options.bias is None
            else number_array(options.bias, ndim=1, field="bias", max_sizes=(MAX_FILTERS,)))
    if options.filters is not None:
        filters = number_array(
            options.filters, ndim=4, field="filters",
            max_sizes=(MAX_FILTERS, MAX_CHANNELS, max_kernel_size, max_kernel_size),
        )
        return make_layer(filters, bias, in_channels=channels, groups=options.groups,
                          activation=options.activation)
    assert options.bank is not None
    if channels % options.groups:
        raise InvalidInput(_("groups must divide the photo's %(channels)s channels; "
                             "%(groups)s does not.", channels=channels, groups=options.groups),
                           field="groups")
    bank = resolve_bank(options.bank, channels=channels // options.groups, seed=options.seed,
                        learned=learned)
    return make_layer(np.tile(bank.filters, (options.groups, 1, 1, 1)),
                      bank.bias if bias is None else bias, in_channels=channels,
                      groups=options.groups, activation=options.activation, name=bank.name,
                      field="bank")


def convolve_photo_layer(
    data: bytes, options: PhotoOptions, *, max_pixels: int, max_kernel_size: int,
    max_layer_macs: int, learned: Mapping[str, Bank] | None = None,
) -> LayerPhotoResult:
    """Run one photo through a whole layer; raises a `webapp.errors.ConvlensError` for any
    bad input. The maps together may hold at most ``max_pixels`` values (their picture is
    then about as large as the largest upload), and cost at most ``max_layer_macs``. With
    ``options.max_side`` the photo is fitted to that working size first."""
    layer = photo_layer(options, photo_channels(options), max_kernel_size=max_kernel_size,
                        learned=learned)
    started = time.perf_counter()
    source = decode_image(data, max_pixels=max_pixels, color=options.color,
                          max_side=options.max_side)
    decode_ms = (time.perf_counter() - started) * 1000
    return _apply_to_photo(source, layer, options, max_pixels=max_pixels,
                           max_layer_macs=max_layer_macs, decode_ms=decode_ms)


def layer_on_decoded(
    source: DecodedImage, options: PhotoOptions, *, max_pixels: int, max_kernel_size: int,
    max_layer_macs: int, learned: Mapping[str, Bank] | None = None,
) -> LayerPhotoResult:
    """`convolve_photo_layer` on a photo decoded earlier, in ``options.color`` already."""
    layer = photo_layer(options, photo_channels(options), max_kernel_size=max_kernel_size,
                        learned=learned)
    return _apply_to_photo(source, layer, options, max_pixels=max_pixels,
                           max_layer_macs=max_layer_macs, decode_ms=0.0)


def _apply_to_photo(
    source: DecodedImage, layer: Layer, options: PhotoOptions, *, max_pixels: int,
    max_layer_macs: int, decode_ms: float,
) -> LayerPhotoResult:
    started = time.perf_counter()
    pixels = source.pixels
    height, width = pixels.shape[:2]
    _check_padded_size(pixels.shape, layer.kernel_shape, options, max_pixels=max_pixels)
    rows, columns = layer_geometry(height, width, layer, stride=options.stride,
                                   padding=options.padding, dilation=options.dilation)
    check_work(layer, rows, columns, max_macs=max_layer_macs, max_values=max_pixels)
    values = np.moveaxis(pixels, 2, 0) if pixels.ndim == 3 else pixels[np.newaxis]
    maps = apply_layer(values, layer, **options.geometry())
    computed = time.perf_counter()
    display = options.display or default_layer_display(layer.activation)
    picture = tile(feature_map_pictures(maps.output, display))
    shown = time.perf_counter()
    encoded = encode_image(picture, options.format)
    finished = time.perf_counter()
    return LayerPhotoResult(
        source=source, maps=maps, display=display, pixels=picture, encoded=encoded,
        options=options,
        timings_ms={
            "decode": decode_ms,
            "compute": (computed - started) * 1000,
            "display": (shown - computed) * 1000,
            "encode": (finished - shown) * 1000,
        },
    )


class MapGrid(BaseModel):
    """How the maps are laid out in the picture: map ``n`` is at grid row ``n // columns``,
    column ``n % columns``, each tile ``gap`` pixels from the next."""

    rows: int
    columns: int
    gap: int


class PhotoLayerAnswer(BaseModel):
    """A photo through a conv layer: shapes are ``[height, width, channels]`` for the photo
    and ``[N, height, width]`` for the maps."""

    input_shape: list[int]
    in_channels: int
    maps: int = Field(description="N: filters, and so feature maps.")
    groups: int
    activation: Activation
    output_shape: list[int]
    padding: dict[str, int] = Field(description="Cells of padding on each side, by name.")
    arithmetic: PlaneArithmetic
    filters: LayerFilters
    operation: str = Field(description="cross-correlation or convolution.")
    display: Display
    stats: list[OutputStats] = Field(description="Each map's range and mean (after the "
                                                 "activation), before it became pixels.")
    grid: MapGrid
    params: int = Field(description="Weights and biases: N * (C_in/groups * k_h * k_w + 1).")
    macs: int = Field(description="Multiply-adds: N * H_out * W_out * C_in/groups * k_h * k_w.")
    linear_params: int = Field(description="Weights of a dense layer in its place.")
    elapsed_ms: float
    timings_ms: dict[str, float]
    engine: str
    image: str = Field(description="The maps tiled in one picture, as a data URL.")

    @classmethod
    def of(cls, result: LayerPhotoResult) -> Self:
        """The answer describing ``result``."""
        maps, layer = result.maps, result.maps.layer
        costs = maps.costs()
        output = maps.output
        rows, columns = grid_shape(layer.maps)
        return cls(
            input_shape=_shape_hwc(result.source.pixels.shape),
            in_channels=layer.in_channels,
            maps=layer.maps,
            groups=layer.groups,
            activation=layer.activation,
            output_shape=list(output.shape),
            padding=maps.padding_sides(),
            arithmetic=PlaneArithmetic(height=maps.rows, width=maps.columns),
            filters=LayerFilters(name=layer.name, shape=list(layer.filters.shape),
                                 weights=layer.filters.tolist(), applied=maps.applied.tolist(),
                                 bias=layer.bias.tolist()),
            operation="convolution" if result.options.flip else "cross-correlation",
            display=result.display,
            stats=[OutputStats(min=float(plane.min()), max=float(plane.max()),
                               mean=float(plane.mean(dtype=np.float64))) for plane in output],
            grid=MapGrid(rows=rows, columns=columns, gap=GRID_GAP),
            params=costs.params,
            macs=costs.macs,
            linear_params=costs.linear_params,
            elapsed_ms=round(sum(result.timings_ms.values()), 3),
            timings_ms={name: round(value, 3) for name, value in result.timings_ms.items()},
            engine=maps.engine,
            image=data_url(result.encoded, result.options.format),
        )
