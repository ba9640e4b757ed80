"""Options: the fields of a convolution request, shared by the form, the JSON API and the CLI.

One pydantic model, so the three doors into convlens accept the same names, defaults and
limits, and the OpenAPI page documents them once. The Literal types here (and in
`webapp.padding`, `webapp.display`, `webapp.images`) are the one list of each choice: the
forms, the CLI and the schema read them with ``typing.get_args``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from webapp.display import Display
from webapp.errors import InvalidInput
from webapp.images import Color, OutputFormat
from webapp.layer import MAX_CHANNELS, Activation
from webapp.padding import PaddingMode
from webapp.pooling import PoolKind
from webapp.translation import N_
from webapp.translation import gettext as _

# Beyond these a request is a typo or an attack, never a lesson.
MAX_STRIDE = 1024
MAX_DILATION = 1024
MAX_PADDING = 4096
MAX_POOL_SIZE = 1024
MAX_WORKING_SIDE = 65536

Operation = Literal["convolve", "max-pool", "avg-pool"]
OPERATIONS: tuple[Operation, ...] = get_args(Operation)
POOL_KINDS: dict[Operation, PoolKind] = {"max-pool": "max", "avg-pool": "average"}
"""The pooling each pooling operation runs (`webapp.pooling.pool`'s ``kind``)."""
SampleName = Literal["cat", "coffee", "camera"]
SAMPLE_NAMES: tuple[SampleName, ...] = get_args(SampleName)

PaddingOption = Literal["valid", "same", "full"] | Annotated[int, Field(ge=0, le=MAX_PADDING)]


class ConvolutionOptions(BaseModel):
    """How to compute one layer: a kernel (or a pooling window) and the geometry. Absent
    fields take the defaults."""

    model_config = ConfigDict(extra="forbid")

    kernel: str | None = Field(
        None, description="A preset name from GET /kernels, e.g. 'sobel-x'.",
        examples=["sobel-x"],
    )
    weights: JsonValue = Field(
        None,
        description="Your own kernel as a 1-D or 2-D list of numbers; wins over `kernel`.",
        examples=[[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]],
    )
    stride: int = Field(1, ge=1, le=MAX_STRIDE, description="Cells the kernel moves per step.")
    padding: PaddingOption = Field(
        "valid",
        description="'valid' (none), 'same' (output ceil(n / stride), TensorFlow's split), "
        "'full' (k_eff - 1 per side) or cells added on every side.",
    )
    padding_mode: PaddingMode = Field("zeros", description="What the padding cells hold.")
    dilation: int = Field(1, ge=1, le=MAX_DILATION, description="Spacing between kernel taps.")
    flip: bool = Field(
        False, description="True convolution (kernel flipped) instead of cross-correlation."
    )
    operation: Operation = Field(
        "convolve",
        description="'convolve' with the kernel, or 'max-pool' / 'avg-pool': the largest / "
        "the mean value of each pool_size x pool_size window (no weights; the kernel is "
        "ignored, padding cells are left out of the max and the mean).",
    )
    pool_size: int = Field(
        2, ge=1, le=MAX_POOL_SIZE, description="The window side when pooling (usually = stride)."
    )
    filters: JsonValue = Field(
        None,
        description="A whole conv layer instead of one kernel: N filters, each C_in/groups x "
        "k_h x k_w (a 4-D list; for a 1-D input N x 1 x k). Each filter spans every channel "
        "of its group and gives one feature map. At most 64 filters.",
        examples=[[[[[-1, 0, 1]]], [[[1, 0, -1]]]]],
    )
    bank: str | None = Field(
        None, description="A filter bank from GET /banks instead of `filters`, e.g. 'edges'.",
        examples=["edges"],
    )
    bias: JsonValue = Field(
        None, description="One number per filter, added to its map (default: zeros).",
        examples=[[0, -1]],
    )
    groups: int = Field(
        1, ge=1, le=MAX_CHANNELS,
        description="Input channels split into this many groups, each filter spanning one "
        "group: 1 is a full layer, C_in (with one filter per channel) a depthwise one.",
    )
    activation: Activation = Field(
        "none", description="Applied to each map after the bias (leaky-relu's slope: 0.01)."
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="The random-he bank's seed.")

    @property
    def is_layer(self) -> bool:
        """Whether a whole layer (``filters`` or a ``bank``) was asked for, not one kernel."""
        return self.filters is not None or self.bank is not None

    @property
    def pool_kind(self) -> PoolKind | None:
        """The pooling asked for, or None for a convolution."""
        return POOL_KINDS.get(self.operation)

    def geometry(self) -> dict[str, Any]:
        """The keyword arguments of `webapp.convolution.convolve` these options set."""
        return {
            "stride": self.stride,
            "padding": self.padding,
            "padding_mode": self.padding_mode,
            "dilation": self.dilation,
            "flip": self.flip,
        }


class PhotoOptions(ConvolutionOptions):
    """Options for convolving an uploaded photo."""

    color: Color = Field("rgb", description="'rgb': each channel alike; 'gray': luma first.")
    display: Display | None = Field(
        None,
        description="How signed outputs become pixels: clip, abs, normalize or diverging. "
        "Default: diverging for kernels summing to zero (edges), clip for the rest.",
    )
    format: OutputFormat = Field("png", description="The output image's format.")
    sample: SampleName | None = Field(
        None,
        description="A bundled sample photo (cat, coffee, camera), used when the image file "
        "is empty: what the pages send when no photo was uploaded.",
    )
    max_side: int | None = Field(
        None, ge=1, le=MAX_WORKING_SIDE,
        description="Fit the photo so that its longer side is at most this many pixels "
        "(area averaging) before computing; default: the photo's full size. The pages work "
        "at 1024 unless the learner picks another working size.",
    )


class NumericRequest(ConvolutionOptions):
    """The numeric mode: convolve (or pool) a small list of numbers and see every step."""

    input: JsonValue = Field(
        ..., description="A 1-D or 2-D list of numbers (at most 256 per side by default); "
        "with `filters` or a `bank` also 3-D, C_in x H x W (at most 64 channels).",
        examples=[[0, 1, 2, 3, 4]],
    )


def parse_json_field(text: str | bytes, field: str) -> JsonValue:
    """JSON from a form field (like ``weights``) or a body, refusing NaN and Infinity."""

    def refuse_constant(name: str) -> float:
        raise InvalidInput(_("%(field)s: %(name)s is not a number JSON allows.", field=field,
                             name=name), field=field)

    try:
        value: JsonValue = json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise InvalidInput(_("%(field)s is nested too deeply to read.", field=field),
                           field=field) from None
    except ValueError as error:  # broken JSON, bad UTF-8, an integer of 4300+ digits
        raise InvalidInput(_("%(field)s is not valid JSON: %(reason)s.", field=field,
                             reason=error), field=field) from None
    return value


OPERATION_LABELS: dict[Operation, str] = {
    "convolve": N_("Convolve with a kernel"),
    "max-pool": N_("Max pool"),
    "avg-pool": N_("Average pool"),
}
"""Each operation as the forms offer it (marked for the catalogue: a form shows ``_(label)``)."""
