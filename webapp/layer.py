"""The convolutional layer: N filters across every input channel, a bias each, an activation.

One 2-D kernel slid over each colour channel alike is image processing (a *depthwise*
convolution). A layer of a convolutional network does more: each of its ``N`` filters spans
``C_in / groups`` input channels with a ``k_h x k_w`` kernel per channel, the products over
all those channels are summed into **one** feature map, a bias is added and an activation
follows. Map ``n``, cell ``(i, j)``:

    out[n, i, j] = act(bias[n] + sum over c, u, v of
                       filters[n, c, u, v] * padded[g*C_g + c, s*i + d*u, s*j + d*v])

with ``g`` the group of filter ``n`` and ``C_g = C_in / groups``. ``groups=1`` is a full
layer; ``groups = C_in`` with one filter per channel is the depthwise convolution convlens
applies to photos on /convolve. Stride ``s``, dilation ``d``, padding and flip mean exactly
what they mean for one kernel (`webapp.convolution`).

How it is computed, and why (``benchmarks/layer.py`` holds each choice against PyTorch):

* **One filter per channel** (depthwise, today's per-channel mode) runs each channel through
  `webapp.convolution.convolve`, so its numbers are the one-kernel page's, bit for bit.
* **Every other layer** is one matrix product per group, never ``C_in x N`` separate 2-D
  passes: photos (8-bit or float32) go to onnxruntime's ``Conv`` (its im2col and matrix
  product, threaded), float64 numbers (the JSON API's exact small examples) to numpy, which
  copies the windows of a band of rows into a matrix and multiplies it by the filters.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import numpy as np
import onnxruntime
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from webapp.arithmetic import (
    AxisArithmetic,
    LayerCosts,
    Padding,
    axis_arithmetic,
    layer_costs,
    padding_sides,
)
from webapp.convolution import CellStep, Convolution, convolve, explain_cell
from webapp.engine import FloatArray
from webapp.errors import InvalidArithmetic, InvalidInput, Overflow
from webapp.matrices import order_of_magnitude
from webapp.padding import Cells, PaddingMode, check_padding_fits, pad
from webapp.translation import N_, ngettext
from webapp.translation import gettext as _

Activation = Literal["none", "relu", "leaky-relu", "sigmoid", "tanh"]
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)
ACTIVATION_LABELS: dict[Activation, str] = {
    "none": N_("none (the sum itself)"),
    "relu": N_("ReLU: max(0, x)"),
    "leaky-relu": N_("leaky ReLU: x, or 0.01 x below 0"),
    "sigmoid": N_("sigmoid: 1 / (1 + e^-x)"),
    "tanh": N_("tanh"),
}
"""Each activation as the forms offer it."""

LEAKY_SLOPE = 0.01
"""The leaky ReLU's slope below zero (PyTorch's and Keras's default)."""

MAX_FILTERS = 64
"""Filters (feature maps) in one layer at most: more is a typo, never a lesson."""
MAX_CHANNELS = 64
"""Input channels at most."""


# --- activations ---------------------------------------------------------------------------


def activate(values: FloatArray, activation: Activation) -> FloatArray:
    """``values`` through ``activation``, in their own dtype.

    >>> activate(np.array([-2.0, 0.0, 3.0]), "relu").tolist()
    [0.0, 0.0, 3.0]
    >>> activate(np.array([-2.0, 3.0]), "leaky-relu").tolist()
    [-0.02, 3.0]
    >>> activate(np.array([0.0]), "sigmoid").tolist()
    [0.5]
    """
    if activation == "none":
        return values
    if activation == "relu":
        return np.maximum(values, 0)
    if activation == "leaky-relu":
        return np.where(values >= 0, values, values * values.dtype.type(LEAKY_SLOPE))
    if activation == "tanh":
        return np.tanh(values)
    # sigmoid(x) = (1 + tanh(x / 2)) / 2: the same curve, with no exp(-x) to overflow.
    half = values.dtype.type(0.5)
    return half + half * np.tanh(values * half)


def activate_number(value: float, activation: Activation) -> float:
    """One number through ``activation`` (the explanation's last step), in float64."""
    return float(activate(np.array([value], dtype=np.float64), activation)[0])


# --- the layer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """A convolutional layer's weights: ``filters`` (N x C_in/groups x k_h x k_w), a
    ``bias`` per filter, the ``groups`` the input channels are split into, an activation."""

    filters: NDArray[np.float64]
    bias: NDArray[np.float64]
    groups: int = 1
    activation: Activation = "none"
    name: str = "custom"

    @property
    def maps(self) -> int:
        """``N``: filters, and so feature maps."""
        return int(self.filters.shape[0])

    @property
    def channels_per_group(self) -> int:
        """Input channels each filter spans, ``C_in / groups``."""
        return int(self.filters.shape[1])

    @property
    def in_channels(self) -> int:
        return self.channels_per_group * self.groups

    @property
    def kernel_shape(self) -> tuple[int, int]:
        return int(self.filters.shape[2]), int(self.filters.shape[3])


def make_layer(
    filters: NDArray[np.float64],
    bias: NDArray[np.float64] | None = None,
    *,
    in_channels: int,
    groups: int = 1,
    activation: Activation = "none",
    name: str = "custom",
    field: str = "filters",
) -> Layer:
    """A `Layer` whose shapes fit an input of ``in_channels`` channels, or an error naming
    the field at fault (``field`` for the filters: ``filters`` or ``bank``).

    >>> make_layer(np.ones((4, 3, 3, 3)), in_channels=3).bias.tolist()
    [0.0, 0.0, 0.0, 0.0]
    >>> make_layer(np.ones((4, 2, 3, 3)), in_channels=3)
    Traceback (most recent call last):
    ...
    webapp.errors.InvalidInput: filters: each filter spans 2 channels, but the input has 3 \
and groups=1 gives each filter 3 (C_in / groups).
    """
    if filters.ndim != 4:
        raise InvalidInput(
            _("%(field)s must be N x C_in/groups x k_h x k_w (4-D), not %(ndim)s-D.",
              field=field, ndim=filters.ndim),
            field=field,
        )
    maps, spans = int(filters.shape[0]), int(filters.shape[1])
    if maps > MAX_FILTERS:
        raise InvalidInput(
            _("%(field)s: %(maps)s filters is over the limit of %(limit)s per layer.",
              field=field, maps=maps, limit=MAX_FILTERS),
            field=field,
        )
    if groups < 1 or in_channels % groups or maps % groups:
        raise InvalidInput(
            _("groups must divide both the input's %(channels)s channels and the %(maps)s "
              "filters; %(groups)s does not.", channels=in_channels, maps=maps, groups=groups),
            field="groups",
        )
    if spans * groups != in_channels:
        raise InvalidInput(
            ngettext("%(field)s: each filter spans %(num)s channel, but the input has "
                     "%(channels)s and groups=%(groups)s gives each filter %(each)s "
                     "(C_in / groups).",
                     "%(field)s: each filter spans %(num)s channels, but the input has "
                     "%(channels)s and groups=%(groups)s gives each filter %(each)s "
                     "(C_in / groups).",
                     spans, field=field, channels=in_channels, groups=groups,
                     each=in_channels // groups),
            field=field,
        )
    if bias is None:
        bias = np.zeros(maps)
    if bias.shape != (maps,):
        raise InvalidInput(
            _("bias needs one number per filter (%(maps)s), not %(count)s.", maps=maps,
              count=bias.size),
            field="bias",
        )
    filters = np.array(filters, dtype=np.float64)
    bias = np.array(bias, dtype=np.float64)
    filters.setflags(write=False)
    bias.setflags(write=False)
    return Layer(filters=filters, bias=bias, groups=groups, activation=activation, name=name)


@dataclass(frozen=True)
class FeatureMaps:
    """A layer's output and the arithmetic that produced it."""

    output: FloatArray
    """``N x out_h x out_w``, after the activation (float64 for float64 input, else float32)."""
    layer: Layer
    applied: NDArray[np.float64]
    """The filters as applied: flipped in both spatial axes for a true convolution."""
    rows: AxisArithmetic
    columns: AxisArithmetic
    engine: str

    def padding_sides(self) -> dict[str, int]:
        """Cells of padding on each side, by name."""
        return padding_sides(self.rows, self.columns)

    def costs(self) -> LayerCosts:
        """Parameters, multiply-adds and a dense layer's parameters for the same sizes."""
        return layer_costs(
            (self.layer.in_channels, self.rows.input, self.columns.input),
            self.output.shape, self.layer.kernel_shape, groups=self.layer.groups,
        )


def layer_geometry(
    height: int,
    width: int,
    layer: Layer,
    *,
    stride: int = 1,
    padding: Padding = "valid",
    dilation: int = 1,
    one_dimensional: bool = False,
) -> tuple[AxisArithmetic, AxisArithmetic]:
    """Both axes' arithmetic for ``layer`` on a ``height x width`` input, before any
    computing (a caller can check the work first). A 1-D signal (``one_dimensional``, one
    row) is padded and strided along its length alone, as `webapp.convolution` does."""
    kernel_height, kernel_width = layer.kernel_shape
    rows = axis_arithmetic(
        height, kernel_height,
        stride=1 if one_dimensional else stride,
        dilation=dilation,
        padding="valid" if one_dimensional else padding,
        axis_name="height",
    )
    columns = axis_arithmetic(
        width, kernel_width, stride=stride, dilation=dilation, padding=padding,
        axis_name="width",
    )
    return rows, columns


def check_work(
    layer: Layer, rows: AxisArithmetic, columns: AxisArithmetic, *, max_macs: int,
    max_values: int | None = None,
) -> None:
    """Refuse a layer whose multiply-adds pass ``max_macs`` (``CONVLENS_MAX_LAYER_MACS``),
    or whose maps together would hold more than ``max_values`` numbers."""
    kernel_height, kernel_width = layer.kernel_shape
    macs = (rows.output * columns.output * layer.maps * layer.channels_per_group
            * kernel_height * kernel_width)
    if macs > max_macs:
        raise InvalidInput(
            _("filters: this layer needs %(macs)s multiply-adds (%(maps)s maps of "
              "%(height)sx%(width)s, each cell %(channels)sx%(kernel_height)sx%(kernel_width)s "
              "products), over the limit of %(limit)s; use fewer or smaller filters, a stride, "
              "or a smaller input.", macs=format(macs, ","), maps=layer.maps, height=rows.output,
              width=columns.output, channels=layer.channels_per_group,
              kernel_height=kernel_height, kernel_width=kernel_width, limit=format(max_macs, ",")),
            field="filters",
        )
    values = layer.maps * rows.output * columns.output
    if max_values is not None and values > max_values:
        raise InvalidInput(
            _("filters: %(maps)s maps of %(height)sx%(width)s would hold %(values)s values, "
              "over the limit of %(limit)s; use fewer filters, a stride, or a smaller input.",
              maps=layer.maps, height=rows.output, width=columns.output, values=format(values, ","),
              limit=format(max_values, ",")),
            field="filters",
        )


def apply_layer(
    values: NDArray[np.generic],
    layer: Layer,
    *,
    stride: int = 1,
    padding: Padding = "valid",
    padding_mode: PaddingMode = "zeros",
    dilation: int = 1,
    flip: bool = False,
    one_dimensional: bool = False,
) -> FeatureMaps:
    """``layer`` on ``values`` (C_in x H x W: 8-bit, float32 or float64).

    Float64 input is computed in float64, anything else in float32. ``one_dimensional``
    marks a 1-D signal held as ``1 x 1 x L``: padding and stride then apply to its length.

    The lesson's edge, as a layer: one filter on one channel, a bias, a ReLU:

    >>> signal = np.array([[[0.0, 1.0, 4.0, 4.0, 1.0]]])
    >>> edge = make_layer(np.array([[[[-1.0, 0.0, 1.0]]]]), np.array([-1.0]), in_channels=1,
    ...                   activation="relu")
    >>> apply_layer(signal, edge, one_dimensional=True).output.tolist()
    [[[3.0, 2.0, 0.0]]]

    Two channels summed into one map (a full layer): each channel's sum, then their total.

    >>> two = np.stack([np.eye(3), 2 * np.eye(3)])
    >>> diagonal = make_layer(np.ones((1, 2, 2, 2)), in_channels=2)
    >>> apply_layer(two, diagonal).output.tolist()
    [[[6.0, 3.0], [3.0, 6.0]]]
    """
    if values.ndim != 3:
        raise InvalidInput(
            _("A layer's input is C_in x H x W (3-D), not %(ndim)s-D.", ndim=values.ndim),
            field="input",
        )
    channels, height, width = values.shape
    if channels != layer.in_channels:
        raise InvalidInput(
            _("filters: each filter spans %(spans)s channels in %(groups)s group(s), "
              "%(expected)s in all, but the input has %(channels)s.",
              spans=layer.channels_per_group, groups=layer.groups,
              expected=layer.in_channels, channels=channels),
            field="filters",
        )
    rows, columns = layer_geometry(height, width, layer, stride=stride, padding=padding,
                                   dilation=dilation, one_dimensional=one_dimensional)
    check_padding_fits(padding_mode, height, rows.padding_lo, rows.padding_hi, "height")
    check_padding_fits(padding_mode, width, columns.padding_lo, columns.padding_hi, "width")
    applied = layer.filters[:, :, ::-1, ::-1] if flip else layer.filters
    float64 = values.dtype == np.float64
    _check_range(layer, eight_bit=values.dtype == np.uint8, float64=float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if layer.groups == channels == layer.maps:
            try:
                output, engine = _per_channel(values, layer, stride=stride, padding=padding,
                                              padding_mode=padding_mode, dilation=dilation,
                                              flip=flip, one_dimensional=one_dimensional)
            except Overflow as error:  # the one-kernel engine calls the filters "weights"
                if error.field != "weights":
                    raise
                # The field's name is in the message in every language (it is never translated).
                raise Overflow(error.message.replace("weights", "filters", 1),
                               field="filters") from None
        else:
            if float64:
                padded = _pad_channels(values, rows, columns, padding_mode, float64)
                output = _numpy_layer(padded, applied, rows, columns, layer.groups)
                engine = "numpy"
            elif padding_mode == "zeros":  # Conv pads zeros as it reads: no padded copy
                output = _onnx_layer(np.ascontiguousarray(values, dtype=np.float32), applied,
                                     layer.bias, rows, columns, layer.groups, pads=True)
                engine = "onnxruntime"
            else:
                padded = _pad_channels(values, rows, columns, padding_mode, float64)
                output = _onnx_layer(padded, applied, layer.bias, rows, columns, layer.groups,
                                     pads=False)
                engine = "onnxruntime"
        if engine != "onnxruntime" and layer.bias.any():  # Conv adds the bias itself
            output += cast(FloatArray, layer.bias.astype(output.dtype))[:, np.newaxis, np.newaxis]
        if not _finite(output, eight_bit=values.dtype == np.uint8):
            _refuse_overflow(values, layer)
        output = activate(output, layer.activation)
    return FeatureMaps(output=output, layer=layer, applied=np.asarray(applied), rows=rows,
                       columns=columns, engine=engine)


def _check_range(layer: Layer, *, eight_bit: bool, float64: bool) -> None:
    """Refuse weights whose sums could leave the compute type's range, before computing
    (the rule of `webapp.convolution`, over every channel a filter spans)."""
    largest = max(float(np.abs(layer.filters).max(initial=0.0)),
                  float(np.abs(layer.bias).max(initial=0.0)))
    limit = float(np.finfo(np.float64 if float64 else np.float32).max)
    taps = layer.channels_per_group * math.prod(layer.kernel_shape)
    if largest >= limit or (eight_bit and 255.0 * (taps + 1) * largest >= limit / 2):
        size = order_of_magnitude(np.abs(layer.filters))
        raise Overflow(
            _("filters: the output overflows to infinity (weights near %(size)s times pixels "
              "up to 255); use smaller weights.", size=size) if eight_bit else
            _("filters: the output overflows to infinity (weights near %(size)s); use smaller "
              "weights.", size=size),
            field="filters",
        )


def _finite(output: FloatArray, *, eight_bit: bool) -> bool:
    """Whether every number of ``output`` is finite. 8-bit pixels cannot overflow weights
    that passed `_check_range`: no scan. A float32 output is summed in float64, one pass
    with no temporary: a sum of float32 numbers cannot pass float64's range, so it is
    finite exactly when every number is."""
    if eight_bit:
        return True
    if output.dtype == np.float32:
        return math.isfinite(float(output.sum(dtype=np.float64)))
    return bool(np.isfinite(output).all())


def _refuse_overflow(values: NDArray[np.generic], layer: Layer) -> None:
    """An output with infinities or NaN: name the larger of the input and the weights."""
    numbers = np.asarray(values, dtype=np.float64)
    input_largest = float(np.abs(numbers).max(initial=0.0))
    weights_largest = float(np.abs(layer.filters).max(initial=0.0))
    field, culprit = (("filters", layer.filters) if weights_largest >= input_largest
                      else ("input", numbers))
    raise Overflow(
        _("%(field)s: the output overflows to infinity (values near %(size)s); use smaller "
          "numbers.", field=field, size=order_of_magnitude(culprit)),
        field=field,
    )


def _per_channel(
    values: NDArray[np.generic], layer: Layer, *, stride: int, padding: Padding,
    padding_mode: PaddingMode, dilation: int, flip: bool, one_dimensional: bool,
) -> tuple[FloatArray, str]:
    """A depthwise layer with one filter per channel: each channel through
    `webapp.convolution.convolve`, the one-kernel engine. One kernel for every channel (the
    /convolve page's photos) is one call on the height x width x channels image, as there."""
    geometry: dict[str, Any] = {"stride": stride, "padding": padding,
                                "padding_mode": padding_mode, "dilation": dilation,
                                "flip": flip}
    kernels = layer.filters[:, 0]
    if one_dimensional:
        maps = [convolve(np.ascontiguousarray(values[c, 0]), kernels[c, 0], **geometry)
                for c in range(layer.maps)]
        return cast(FloatArray, np.stack([m.output[np.newaxis] for m in maps])), maps[0].engine
    if layer.maps > 1 and bool((kernels == kernels[0]).all()):
        together = convolve(np.moveaxis(values, 0, 2), kernels[0], **geometry)
        planes = together.output if together.output.ndim == 3 else together.output[..., None]
        return cast(FloatArray, np.ascontiguousarray(np.moveaxis(planes, 2, 0))), together.engine
    # Each plane contiguous, as the engine's compiled loops were compiled for (a strided
    # view of an interleaved photo would need another version compiled mid-request).
    maps = [convolve(np.ascontiguousarray(values[c]), kernels[c], **geometry)
            for c in range(layer.maps)]
    return cast(FloatArray, np.stack([m.output for m in maps])), maps[0].engine


def _pad_channels(
    values: NDArray[np.generic], rows: AxisArithmetic, columns: AxisArithmetic,
    mode: PaddingMode, float64: bool,
) -> FloatArray:
    """``values`` padded plane by plane (`webapp.padding.pad`), as contiguous floats: 8-bit
    planes are padded as bytes and become floats once, in the same copy that stacks them."""
    dtype = np.float64 if float64 else np.float32
    sides = (rows.padding_lo, rows.padding_hi), (columns.padding_lo, columns.padding_hi)
    if not any(sides[0] + sides[1]):
        return cast(FloatArray, np.ascontiguousarray(values, dtype=dtype))
    planes = cast(Cells, values if values.dtype in (np.uint8, dtype) else values.astype(dtype))
    return cast(FloatArray, np.stack([pad(plane, *sides, mode) for plane in planes],
                                     dtype=dtype))


_BAND_VALUES = 1 << 21
"""Window values copied into the matrix at once (numpy engine): a band of output rows."""


def _numpy_layer(
    padded: FloatArray, filters: NDArray[np.float64], rows: AxisArithmetic,
    columns: AxisArithmetic, groups: int,
) -> FloatArray:
    """im2col: the windows of a band of rows as a (C_g k_h k_w) x cells matrix per group,
    multiplied by the group's filters (N_g x C_g k_h k_w) in one batched matrix product."""
    channels = padded.shape[0]
    maps, spans, kernel_height, kernel_width = filters.shape
    windows = sliding_window_view(
        padded, (rows.effective_kernel, columns.effective_kernel), axis=(1, 2)
    )[:, :: rows.stride, :: columns.stride, :: rows.dilation, :: columns.dilation]
    windows = windows[:, : rows.output, : columns.output]
    weights = filters.reshape(groups, maps // groups, spans * kernel_height * kernel_width
                              ).astype(padded.dtype)
    output = np.empty((maps, rows.output, columns.output), dtype=padded.dtype)
    band = max(1, _BAND_VALUES // max(1, columns.output * channels * kernel_height
                                      * kernel_width))
    for top in range(0, rows.output, band):
        bottom = min(rows.output, top + band)
        block = windows[:, top:bottom].reshape(
            groups, spans, bottom - top, columns.output, kernel_height, kernel_width
        ).transpose(0, 1, 4, 5, 2, 3).reshape(groups, weights.shape[2], -1)
        product = np.matmul(weights, block)
        output[:, top:bottom] = product.reshape(maps, bottom - top, columns.output)
    return output


def _onnx_layer(
    planes: FloatArray, filters: NDArray[np.float64], bias: NDArray[np.float64],
    rows: AxisArithmetic, columns: AxisArithmetic, groups: int, *, pads: bool,
) -> FloatArray:
    """onnxruntime's ``Conv`` on float32 planes (padded already, or with ``pads`` padded
    with zeros by ``Conv`` itself), the bias added in the same pass."""
    sides = ((rows.padding_lo, columns.padding_lo, rows.padding_hi, columns.padding_hi)
             if pads else (0, 0, 0, 0))
    weights = np.ascontiguousarray(filters, dtype=np.float32)
    offsets = np.ascontiguousarray(bias, dtype=np.float32)
    digest = hashlib.blake2b(weights.tobytes() + offsets.tobytes(), digest_size=16).digest()
    session = _conv_session((rows.stride, columns.stride), (rows.dilation, columns.dilation),
                            groups, sides, weights.shape, digest, weights, offsets)
    result = session.run(None, {
        "input": np.ascontiguousarray(planes, dtype=np.float32)[np.newaxis],
    })[0]
    output: NDArray[np.float32] = result[0]
    # A stride that does not divide leaves cells past the last window: Conv keeps none.
    return output[:, : rows.output, : columns.output]


_SESSIONS: OrderedDict[tuple[Any, ...], onnxruntime.InferenceSession] = OrderedDict()
_SESSIONS_LOCK = threading.Lock()
_KEPT_SESSIONS = 16
"""Sessions kept, the least recently used dropped first: a page's banks come back with
every control change, and a session is cheap to make again."""


def _conv_session(
    strides: tuple[int, int], dilations: tuple[int, int], groups: int,
    pads: tuple[int, int, int, int], shape: tuple[int, ...], digest: bytes,
    filters: NDArray[np.float32], bias: NDArray[np.float32],
) -> onnxruntime.InferenceSession:
    """A session running one ``Conv`` with these attributes and these weights (``digest``
    names them). The weights are constants of the graph, not inputs: only then does
    onnxruntime lay them out ahead for its blocked (NCHWc) kernels, which is what makes
    it as fast as PyTorch's convolution (benchmarks/layer.py)."""
    key = (strides, dilations, groups, pads, shape, digest)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is not None:
            _SESSIONS.move_to_end(key)
            return session
    session = _new_session(conv_model(strides, dilations, groups, pads, filters, bias))
    with _SESSIONS_LOCK:
        _SESSIONS[key] = session
        while len(_SESSIONS) > _KEPT_SESSIONS:
            _SESSIONS.popitem(last=False)
    return session


def _new_session(model: bytes) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # Idle worker threads would spin, taking CPU from the other requests of a busy server.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(
        model, sess_options=options,
        providers=["CPUExecutionProvider"],
    )


# --- a one-node ONNX graph, written by hand -------------------------------------------------
# An ONNX model is a protocol-buffers message (`webapp.autoencoder.onnxfile` reads them).
# Writing the few fields one Conv node needs takes less than the `onnx` package would.


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _message(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): a string, bytes or a nested message."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _integer(number: int, value: int) -> bytes:
    """A varint field (wire type 0)."""
    return _varint(number << 3) + _varint(value)


def _ints_attribute(name: str, values: tuple[int, ...]) -> bytes:
    # AttributeProto: name 1, ints 8 (repeated, unpacked in ONNX's proto2), type 20 (INTS = 7)
    return (_message(1, name.encode()) + b"".join(_integer(8, v) for v in values)
            + _integer(20, 7))


def _constant(name: str, values: NDArray[np.float32]) -> bytes:
    # TensorProto: dims 1 (repeated int64), data_type 2 (FLOAT = 1), name 8, raw_data 9
    # (little-endian, as numpy writes float32 here)
    return (b"".join(_integer(1, size) for size in values.shape) + _integer(2, 1)
            + _message(8, name.encode()) + _message(9, values.astype("<f4").tobytes()))


def _float_tensor(name: str, dims: tuple[str, ...]) -> bytes:
    # ValueInfoProto: name 1, type 2 -> TypeProto.tensor_type 1 -> elem_type 1 (FLOAT = 1),
    # shape 2 -> dim 1 -> dim_param 2 (a named, free size)
    shape = b"".join(_message(1, _message(2, dim.encode())) for dim in dims)
    return _message(1, name.encode()) + _message(2, _message(1, _integer(1, 1)
                                                              + _message(2, shape)))


def conv_model(
    strides: tuple[int, int], dilations: tuple[int, int], groups: int,
    pads: tuple[int, int, int, int], filters: NDArray[np.float32], bias: NDArray[np.float32],
) -> bytes:
    """An ONNX model (opset 17) of one ``Conv``: ``output = Conv(input, filters, bias)``,
    the filters and the bias constants of the graph, with zero ``pads`` as ONNX orders them
    (top, left, bottom, right).

    >>> model = conv_model((1, 1), (1, 1), 1, (0, 0, 0, 0),
    ...                    np.ones((1, 1, 2, 2), np.float32), np.array([0.5], np.float32))
    >>> session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    >>> session.run(None, {"input": np.ones((1, 1, 3, 3), np.float32)})[0].tolist()
    [[[[4.5, 4.5], [4.5, 4.5]]]]
    """
    # NodeProto: input 1, output 2, op_type 4, attribute 5
    node = (_message(1, b"input") + _message(1, b"filters") + _message(1, b"bias")
            + _message(2, b"output")
            + _message(4, b"Conv")
            + _message(5, _ints_attribute("strides", strides))
            + _message(5, _ints_attribute("dilations", dilations))
            + _message(5, _ints_attribute("pads", pads))
            + _message(5, _message(1, b"group") + _integer(3, groups) + _integer(20, 2)))
    # GraphProto: node 1, name 2, initializer 5, input 11, output 12
    graph = (_message(1, node) + _message(2, b"layer")
             + _message(5, _constant("filters", filters)) + _message(5, _constant("bias", bias))
             + _message(11, _float_tensor("input", ("batch", "channels", "height", "width")))
             + _message(12, _float_tensor("output", ("batch", "maps", "out_h", "out_w"))))
    # ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (domain 1, version 2)
    return (_integer(1, 8) + _message(2, b"convlens") + _message(7, graph)
            + _message(8, _message(1, b"") + _integer(2, 17)))


# --- one output cell explained ---------------------------------------------------------------


@dataclass(frozen=True)
class ChannelTerms:
    """One input channel's share of an output cell: its window times the filter's slice."""

    channel: int
    """The input channel (0-based)."""
    steps: list[CellStep]
    sum: float


@dataclass(frozen=True)
class MapCell:
    """One cell of one feature map worked out on the real numbers."""

    map: int
    row: int
    column: int
    channels: list[ChannelTerms]
    bias: float
    total: float
    """The channels' sums plus the bias: the value before the activation."""
    activation: Activation
    output: float
    """The activation of ``total``: the feature map's value."""


def explain_map_cell(
    values: NDArray[np.generic],
    maps: FeatureMaps,
    map_index: int,
    row: int,
    column: int,
    *,
    padding_mode: PaddingMode,
) -> MapCell:
    """Cell ``(row, column)`` of map ``map_index``: for each input channel its window, the
    filter's slice over it and their sum; then the bias, the total and the activation.

    Added up cell by cell in float64 (`webapp.convolution.explain_cell`), independently of
    the engine, so a learner can redo every sum by hand.

    >>> two = np.stack([np.eye(3), 2 * np.eye(3)])
    >>> layer = make_layer(np.ones((1, 2, 2, 2)), np.array([-7.0]), in_channels=2,
    ...                    activation="relu")
    >>> cell = explain_map_cell(two, apply_layer(two, layer), 0, 0, 0, padding_mode="zeros")
    >>> [terms.sum for terms in cell.channels], cell.total, cell.output
    ([2.0, 4.0], -1.0, 0.0)
    """
    layer = maps.layer
    for name, value, limit in (("map", map_index, layer.maps), ("row", row, maps.rows.output),
                               ("column", column, maps.columns.output)):
        if not 0 <= value < limit:
            raise InvalidArithmetic(_("%(name)s must be from 0 to %(last)s, not %(value)s.",
                                      name=name, last=limit - 1, value=value), field=name)
    first = (map_index // (layer.maps // layer.groups)) * layer.channels_per_group
    numbers = np.asarray(values, dtype=np.float64)
    channels: list[ChannelTerms] = []
    for offset in range(layer.channels_per_group):
        one_kernel = Convolution(output=maps.output[map_index], rows=maps.rows,
                                 columns=maps.columns, kernel=maps.applied[map_index, offset],
                                 engine=maps.engine)
        steps = explain_cell(numbers[first + offset], one_kernel, row, column,
                             padding_mode=padding_mode)
        channels.append(ChannelTerms(channel=first + offset, steps=steps,
                                     sum=sum(step.product for step in steps)))
    bias = float(layer.bias[map_index])
    total = sum(terms.sum for terms in channels) + bias
    return MapCell(map=map_index, row=row, column=column, channels=channels, bias=bias,
                   total=total, activation=layer.activation,
                   output=activate_number(total, layer.activation))


# --- numbers from JSON ---------------------------------------------------------------------


def number_array(value: object, *, ndim: int, field: str, max_sizes: tuple[int, ...]) -> (
    NDArray[np.float64]
):
    """``value`` (nested JSON lists, ``ndim`` deep) as a read-only float64 array, or an
    error naming ``field`` and the rule; ``max_sizes`` bounds each axis.

    >>> number_array([[[1, 2]], [[3, 4]]], ndim=3, field="filters", max_sizes=(4, 4, 4)).shape
    (2, 1, 2)
    >>> number_array([[1], [2, 3]], ndim=2, field="input", max_sizes=(4, 4))
    Traceback (most recent call last):
    ...
    webapp.errors.InvalidInput: input is ragged: input[1] has 2 values where input[0] has 1.
    """
    shape = _nested_shape(value, ndim, field, field)
    for axis, (size, limit) in enumerate(zip(shape, max_sizes, strict=True)):
        if size > limit:
            raise InvalidInput(
                _("%(field)s is %(shape)s; at most %(limit)s along axis %(axis)s.", field=field,
                  shape="x".join(map(str, shape)), limit=limit, axis=axis),
                field=field,
            )
    try:
        array = np.array(value, dtype=np.float64)
    except OverflowError:  # an integer past float's range, e.g. 400 digits long
        raise InvalidInput(_("%(field)s holds an integer past +-1.8e308; numbers must lie "
                             "within it.", field=field), field=field) from None
    if not np.isfinite(array).all():
        raise InvalidInput(_("%(field)s must hold finite numbers only.", field=field),
                           field=field)
    array.setflags(write=False)
    return array


def _nested_shape(value: object, depth: int, field: str, where: str) -> tuple[int, ...]:
    """The shape of ``value``, checked to be a box of numbers ``depth`` lists deep (the
    innermost lists are checked in one pass each: a photo-sized input has millions)."""
    if not isinstance(value, list) or not value:
        raise InvalidInput(_("%(field)s must be a non-empty list nested %(depth)s deep "
                             "(at %(where)s).", field=field, depth=depth, where=where),
                           field=field)
    if depth == 1:
        if not all(type(item) in (int, float) for item in value):
            culprit = next(item for item in value if type(item) not in (int, float))
            raise InvalidInput(_("%(field)s must hold numbers only, not %(value)s at "
                                 "%(where)s.", field=field, value=repr(culprit), where=where),
                               field=field)
        return (len(value),)
    inner = _nested_shape(value[0], depth - 1, field, f"{where}[0]")
    for index, item in enumerate(value[1:], start=1):
        shape = _nested_shape(item, depth - 1, field, f"{where}[{index}]")
        if shape != inner:
            raise InvalidInput(
                _("%(field)s is ragged: %(where)s[%(index)s] has %(count)s values where "
                  "%(where)s[0] has %(first)s.", field=field, where=where, index=index,
                  count=shape[0], first=inner[0]),
                field=field,
            )
    return (len(value), *inner)
