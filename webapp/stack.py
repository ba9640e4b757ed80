"""A small CNN: up to four blocks of conv layer, activation and optional pooling, in a row.

Each block is one `webapp.layer.Layer` (a filter bank over every channel its input has)
followed by an optional 2x2 pooling that moves by 2. Block 1 reads the photo (3 channels in
RGB, 1 in gray); every later block reads the maps of the block before, so the ``N`` maps of
one block are the ``C_in`` channels of the next, and each pooling halves the maps' sides::

    photo 3 x H x W -> conv (N1 filters of 3 x k x k) -> ReLU -> max pool 2x2
                    -> N1 x H/2 x W/2 -> conv (N2 filters of N1 x k x k) -> ...

The whole stack is checked (sizes, work, channels) before anything is computed, and every
error names the block's field at fault (``block-2-bank``). One cell of one block's feature
maps can be explained on the real numbers (`explain_stack_cell`), with the part of the
photo it sees (its receptive field, `webapp.arithmetic.receptive_field`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Self, cast, get_args

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from webapp.arithmetic import (
    AxisArithmetic,
    LayerKind,
    StackLayer,
    axis_arithmetic,
    receptive_box,
    receptive_field,
)
from webapp.banks import DESIGNED, RANDOM, Bank, he_bank, resolve_bank
from webapp.engine import FloatArray
from webapp.errors import ConvlensError, InvalidInput, UnknownName
from webapp.images import Color
from webapp.layer import (
    MAX_FILTERS,
    Activation,
    FeatureMaps,
    Layer,
    MapCell,
    apply_layer,
    check_work,
    explain_map_cell,
    layer_geometry,
    make_layer,
)
from webapp.options import SampleName
from webapp.pooling import PoolKind, pool
from webapp.translation import N_, ngettext
from webapp.translation import gettext as _

MAX_BLOCKS = 4
"""Blocks in a stack at most: enough to see maps shrink and the receptive field grow."""
POOL_SIZE = 2
"""Every pooling here is 2x2 moving by 2: it keeps one value in four, the lesson's pool."""

PoolChoice = Literal["none", "max", "average"]
POOL_CHOICES: tuple[PoolChoice, ...] = get_args(PoolChoice)
POOL_LABELS: dict[PoolChoice, str] = {
    "none": N_("none"), "max": N_("max pool 2x2"), "average": N_("average pool 2x2"),
}
"""Each pooling as the form offers it."""
BlockPadding = Literal["same", "valid"]
BLOCK_PADDINGS: tuple[BlockPadding, ...] = get_args(BlockPadding)
WorkingSide = Literal[256, 512, 1024]
WORKING_SIDES: tuple[WorkingSide, ...] = get_args(WorkingSide)
"""The working sizes (the photo's longer side) a stack runs on: small enough that four
blocks answer as fast as one kernel on /convolve."""

_POOL_LAYER_KINDS: dict[str, LayerKind] = {"max": "max_pool", "average": "avg_pool"}


class BlockSpec(BaseModel):
    """One block as a request asks for it: a bank of filters, an activation, a pooling."""

    model_config = ConfigDict(extra="forbid")

    bank: str = Field(
        RANDOM, min_length=1, max_length=64,
        description="A filter bank of GET /banks. A bank made for one channel (edges, Gabor) "
        "spreads over however many channels the block reads; `random-he` makes `maps` "
        "random 3x3 filters over them.",
    )
    maps: int = Field(8, ge=1, le=MAX_FILTERS,
                      description="Filters (feature maps) of a `random-he` block; the other "
                      "banks bring their own number.")
    activation: Activation = "relu"
    padding: BlockPadding = Field("same", description="`same` keeps the map's size; `valid` "
                                  "loses k - 1 cells per axis.")
    pool: PoolChoice = Field("max", description="A 2x2 pooling moving by 2 after the "
                             "activation, or none.")


class CellChoice(BaseModel):
    """One cell of one block's feature maps (before its pooling), counted from 0; blocks
    from 1."""

    model_config = ConfigDict(extra="forbid")

    block: int = Field(ge=1, le=MAX_BLOCKS)
    map: int = Field(ge=0, le=MAX_FILTERS)
    row: int = Field(ge=0, le=65536)
    column: int = Field(ge=0, le=65536)


DEFAULT_BLOCKS = (
    BlockSpec(bank="edges", activation="relu", pool="max"),
    BlockSpec(bank=RANDOM, maps=8, activation="relu", pool="max"),
)
"""The stack a page opens on: designed edges, then a random layer over their maps."""


class StackRequest(BaseModel):
    """A stack on a photo, as the JSON API and the page's form both ask for it."""

    model_config = ConfigDict(extra="forbid")

    sample: SampleName = Field("cat", description="A bundled sample photo, used when no "
                               "image (or photo_key) is sent.")
    photo_key: str | None = Field(None, description="The key of a photo the page sent "
                                  "earlier, instead of the image (410 when gone).")
    max_side: WorkingSide = Field(256, description="The working size: the photo is fitted "
                                  "so that its longer side is at most this.")
    color: Color = Field("rgb", description="rgb gives block 1 three channels, gray one.")
    random_seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the random banks "
                             "(block n uses random_seed + n - 1).")
    blocks: list[BlockSpec] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKS), min_length=1, max_length=MAX_BLOCKS,
        description="From the photo up. Errors name a block's field as block-N-<field>.",
    )
    cell: CellChoice | None = Field(None, description="A feature-map cell to explain.")


def block_field(index: int, name: str) -> str:
    """The name of block ``index``'s field (1-based), as forms and problems spell it.

    >>> block_field(2, "bank")
    'block-2-bank'
    """
    return f"block-{index}-{name}"


def _in_block(error: ConvlensError, index: int, name: str) -> ConvlensError:
    """``error`` (its kind and status kept) said of block ``index``, naming its field."""
    error.message = _("Block %(index)s: %(message)s", index=index, message=error.message)
    error.field = block_field(index, name)
    error.args = (error.message,)
    return error


def block_layer(
    spec: BlockSpec, index: int, channels: int, *, seed: int,
    learned: Mapping[str, Bank] | None = None,
) -> Layer:
    """Block ``index``'s layer over ``channels`` input channels, or an error naming its bank."""
    try:
        bank = (he_bank(channels, maps=spec.maps, seed=seed + index - 1)
                if spec.bank == RANDOM
                else resolve_bank(spec.bank, channels=channels, learned=learned))
    except UnknownName as error:
        raise _in_block(error, index, "bank") from None
    except InvalidInput:  # a bank made for another number of channels
        made_for = (DESIGNED.get(spec.bank) or (learned or {})[spec.bank]).channels
        assert made_for is not None  # a bank that fits any number of channels refuses none
        reads = (_("the photo") if index == 1
                 else _("the maps of block %(block)s", block=index - 1))
        values = {"index": index, "bank": repr(spec.bank), "reads": reads,
                  "read": ngettext("%(num)s channel", "%(num)s channels", channels)}
        if index == 1 and made_for == 1:  # a gray bank on the colour photo
            message = ngettext(
                "Block %(index)s: bank %(bank)s has filters over %(num)s channel, but the "
                "block reads %(reads)s, %(read)s; choose edges, gabor or random-he, which fit "
                "any (or the gray photo).",
                "Block %(index)s: bank %(bank)s has filters over %(num)s channels, but the "
                "block reads %(reads)s, %(read)s; choose edges, gabor or random-he, which fit "
                "any (or the gray photo).",
                made_for, **values)
        else:
            message = ngettext(
                "Block %(index)s: bank %(bank)s has filters over %(num)s channel, but the "
                "block reads %(reads)s, %(read)s; choose edges, gabor or random-he, which fit "
                "any.",
                "Block %(index)s: bank %(bank)s has filters over %(num)s channels, but the "
                "block reads %(reads)s, %(read)s; choose edges, gabor or random-he, which fit "
                "any.",
                made_for, **values)
        raise InvalidInput(message, field=block_field(index, "bank")) from None
    try:
        return make_layer(bank.filters, bank.bias, in_channels=channels,
                          activation=spec.activation, name=bank.name, field="bank")
    except ConvlensError as error:
        raise _in_block(error, index, "bank") from None


@dataclass(frozen=True)
class PlannedBlock:
    """A block checked before running: its layer and both axes' arithmetic."""

    spec: BlockSpec
    layer: Layer
    rows: AxisArithmetic
    columns: AxisArithmetic
    pooled: tuple[AxisArithmetic, AxisArithmetic] | None


def plan_stack(
    channels: int, height: int, width: int, specs: Sequence[BlockSpec], *, seed: int,
    max_layer_macs: int, max_values: int, learned: Mapping[str, Bank] | None = None,
) -> list[PlannedBlock]:
    """Every block's layer and sizes, worked out in turn before any computing: a block the
    maps are too small for, too much work or a bank of the wrong channels is the block's
    error, named by its field."""
    if not 1 <= len(specs) <= MAX_BLOCKS:
        raise InvalidInput(_("A stack has 1 to %(most)s blocks, not %(count)s.",
                             most=MAX_BLOCKS, count=len(specs)), field="blocks")
    planned: list[PlannedBlock] = []
    for index, spec in enumerate(specs, start=1):
        layer = block_layer(spec, index, channels, seed=seed, learned=learned)
        try:
            rows, columns = layer_geometry(height, width, layer, padding=spec.padding)
        except ConvlensError as error:
            kernel = "x".join(map(str, layer.kernel_shape))
            raise InvalidInput(
                _("Block %(index)s: its input maps are %(height)sx%(width)s, too small for "
                  "the %(kernel)s filters of %(bank)s with valid padding; use same padding, "
                  "or pool less before it.", index=index, height=height, width=width,
                  kernel=kernel, bank=repr(spec.bank)),
                field=block_field(index, "padding"),
            ) from error
        try:
            check_work(layer, rows, columns, max_macs=max_layer_macs, max_values=max_values)
        except ConvlensError as error:
            raise _in_block(error, index, "maps" if spec.bank == RANDOM else "bank") from None
        pooled = None
        height, width, channels = rows.output, columns.output, layer.maps
        if spec.pool != "none":
            try:
                pooled = (axis_arithmetic(height, POOL_SIZE, stride=POOL_SIZE, axis_name="height"),
                          axis_arithmetic(width, POOL_SIZE, stride=POOL_SIZE, axis_name="width"))
            except ConvlensError:
                raise InvalidInput(
                    _("Block %(index)s: a 2x2 pool needs maps of at least 2x2, and this "
                      "block's are %(height)sx%(width)s; choose no pool, or fewer blocks.",
                      index=index, height=height, width=width),
                    field=block_field(index, "pool"),
                ) from None
            height, width = pooled[0].output, pooled[1].output
        planned.append(PlannedBlock(spec=spec, layer=layer, rows=rows, columns=columns,
                                    pooled=pooled))
    return planned


@dataclass(frozen=True)
class BlockResult:
    """One block run: what it read, its feature maps, and their pooling."""

    index: int
    spec: BlockSpec
    input: NDArray[np.generic]
    """C_in x H x W: the photo's channels (8-bit) for block 1, else the block before's output."""
    maps: FeatureMaps
    """The conv layer's maps after the activation, N x H x W."""
    pooled: FloatArray | None
    """The maps pooled 2x2 (N x H/2 x W/2), or None without a pool."""

    @property
    def output(self) -> FloatArray:
        """What the next block reads."""
        return self.maps.output if self.pooled is None else self.pooled


@dataclass(frozen=True)
class StackResult:
    """A photo through a stack of blocks."""

    photo: NDArray[np.uint8]
    """The working photo: height x width x 3 (rgb) or height x width (gray)."""
    blocks: list[BlockResult]
    photo_size: tuple[int, int]
    """The upload's own width and height (the working photo may be smaller)."""
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def values(self) -> NDArray[np.uint8]:
        """The photo channels first, C x H x W: what block 1 reads."""
        return photo_channels_first(self.photo)


def photo_channels_first(photo: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A photo (H x W x 3, or H x W gray) as C x H x W."""
    return np.moveaxis(photo, 2, 0) if photo.ndim == 3 else photo[np.newaxis]


def run_stack(
    photo: NDArray[np.uint8], specs: Sequence[BlockSpec], *, seed: int, max_layer_macs: int,
    max_values: int, learned: Mapping[str, Bank] | None = None,
    photo_size: tuple[int, int] | None = None,
) -> StackResult:
    """``photo`` through every block in turn: conv layer (activation included), then its
    pooling, the pooled maps feeding the next block."""
    values: NDArray[np.generic] = photo_channels_first(photo)
    channels, height, width = values.shape
    planned = plan_stack(channels, height, width, specs, seed=seed, max_layer_macs=max_layer_macs,
                         max_values=max_values, learned=learned)
    blocks: list[BlockResult] = []
    timings: dict[str, float] = {}
    for index, block in enumerate(planned, start=1):
        started = time.perf_counter()
        maps = apply_layer(values, block.layer, padding=block.spec.padding)
        pooled = None if block.spec.pool == "none" else pool_maps(maps.output, block.spec.pool)
        blocks.append(BlockResult(index=index, spec=block.spec, input=values, maps=maps,
                                  pooled=pooled))
        values = blocks[-1].output  # the pooled maps: what the next block reads
        timings[f"block{index}"] = (time.perf_counter() - started) * 1000
    height, width = photo.shape[:2]
    return StackResult(photo=photo, blocks=blocks, photo_size=photo_size or (width, height),
                       timings_ms=timings)


def pool_maps(maps: FloatArray, kind: PoolKind) -> FloatArray:
    """Each of ``maps`` (N x H x W) pooled 2x2 with stride 2 (`webapp.pooling.pool` takes
    channels last).

    >>> pool_maps(np.arange(16.0).reshape(1, 4, 4), "max").tolist()
    [[[5.0, 7.0], [13.0, 15.0]]]
    """
    pooled = pool(np.moveaxis(maps, 0, 2), kind=kind, size=POOL_SIZE, stride=POOL_SIZE)
    return cast(FloatArray, np.ascontiguousarray(np.moveaxis(pooled.output, 2, 0)))


# --- one cell explained, and what it sees of the photo ---------------------------------------


def stack_layers(blocks: Sequence[BlockResult], upto: int, axis: int) -> list[StackLayer]:
    """The conv and pooling layers from the photo to block ``upto``'s conv (its pooling
    left out: a cell of its maps is explained), along ``axis`` (0 rows, 1 columns)."""
    layers: list[StackLayer] = []
    for block in blocks[:upto]:
        kernel = block.maps.layer.kernel_shape[axis]
        layers.append(StackLayer("conv", kernel, padding=block.spec.padding))
        if block.index < upto and block.spec.pool != "none":
            layers.append(StackLayer(_POOL_LAYER_KINDS[block.spec.pool], POOL_SIZE,
                                     stride=POOL_SIZE))
    return layers


@dataclass(frozen=True)
class StackCell:
    """One feature-map cell: its sums on the real numbers, the value the layer computed,
    and the box of photo pixels it sees."""

    choice: CellChoice
    explained: MapCell
    value: float
    """The map's number as the engine computed it (float32 for a photo)."""
    receptive_field: tuple[int, int]
    """Photo pixels seen per axis: rows, columns."""
    box: tuple[float, float, float, float]
    """Top, left, bottom, right (in photo pixels; outside the photo where padding is seen)."""


def explain_stack_cell(result: StackResult, choice: CellChoice) -> StackCell:
    """Cell ``choice`` worked out: each input channel's window times the filter's slice,
    their sums, the bias, the total, the activation; and its receptive field on the photo."""
    if choice.block > len(result.blocks):
        raise InvalidInput(_("block must be from 1 to %(last)s, not %(block)s.",
                             last=len(result.blocks), block=choice.block), field="block")
    block = result.blocks[choice.block - 1]
    explained = explain_map_cell(block.input, block.maps, choice.map, choice.row,
                                 choice.column, padding_mode="zeros")
    height, width = result.photo.shape[:2]
    fields = [receptive_field(stack_layers(result.blocks, choice.block, axis), size)[-1]
              for axis, size in ((0, height), (1, width))]
    top, bottom = receptive_box(fields[0], choice.row)
    left, right = receptive_box(fields[1], choice.column)
    return StackCell(
        choice=choice, explained=explained,
        value=float(block.maps.output[choice.map, choice.row, choice.column]),
        receptive_field=(fields[0].receptive_field, fields[1].receptive_field),
        box=(top, left, bottom, right),
    )


# --- the JSON answer -------------------------------------------------------------------------


class MapStats(BaseModel):
    """One map's range and mean."""

    min: float
    max: float
    mean: float


class BlockAnswer(BaseModel):
    """One block: shapes are C x H x W (channels first), costs beside a dense layer's."""

    index: int
    bank: str
    activation: Activation
    padding: BlockPadding
    pool: PoolChoice
    input_shape: list[int]
    filters_shape: list[int] = Field(description="N x C_in x k_h x k_w.")
    maps_shape: list[int] = Field(description="The conv's maps after the activation.")
    output_shape: list[int] = Field(description="After the pooling: what the next block reads.")
    params: int = Field(description="Weights and biases: N * (C_in * k_h * k_w + 1); a "
                        "pooling adds none.")
    macs: int = Field(description="Multiply-adds of the conv.")
    linear_params: int = Field(description="A dense layer from the block's input to its maps.")
    engine: str
    stats: list[MapStats] = Field(description="Each map's range and mean, after the "
                                  "activation, before pooling.")


class ChannelAnswer(BaseModel):
    """One input channel's share of a cell: the window, the filter's slice, their sum."""

    channel: int
    window: list[list[float]] = Field(description="The input values under the filter "
                                      "(padding reads 0).")
    weights: list[list[float]]
    sum: float


class ReceptiveBox(BaseModel):
    """The photo pixels a cell sees, inclusive; outside the photo where it sees padding."""

    height: int
    width: int
    top: float
    left: float
    bottom: float
    right: float


class CellAnswer(BaseModel):
    """One feature-map cell explained on the real numbers (float64)."""

    block: int
    map: int
    row: int
    column: int
    channels: list[ChannelAnswer]
    bias: float
    total: float = Field(description="The channels' sums plus the bias.")
    activation: Activation
    output: float = Field(description="The activation of the total: the map's value.")
    value: float = Field(description="The same cell as the layer computed it (float32).")
    receptive_field: ReceptiveBox

    @classmethod
    def of(cls, cell: StackCell) -> Self:
        explained = cell.explained
        channels = []
        for terms in explained.channels:
            width = 1 + max(step.column for step in terms.steps) - terms.steps[0].column
            window = [step.value for step in terms.steps]
            weights = [step.weight for step in terms.steps]
            channels.append(ChannelAnswer(
                channel=terms.channel,
                window=[window[start:start + width] for start in range(0, len(window), width)],
                weights=[weights[start:start + width]
                         for start in range(0, len(weights), width)],
                sum=terms.sum,
            ))
        top, left, bottom, right = cell.box
        return cls(
            block=cell.choice.block, map=explained.map, row=explained.row,
            column=explained.column, channels=channels, bias=explained.bias,
            total=explained.total, activation=explained.activation, output=explained.output,
            value=cell.value,
            receptive_field=ReceptiveBox(height=cell.receptive_field[0],
                                         width=cell.receptive_field[1], top=top, left=left,
                                         bottom=bottom, right=right),
        )


class StackAnswer(BaseModel):
    """A photo through a small CNN: each block's shapes, costs and map statistics."""

    photo_shape: list[int] = Field(description="C x H x W of the working photo.")
    photo_size: list[int] = Field(description="The upload's own width and height.")
    blocks: list[BlockAnswer]
    params: int = Field(description="Every block's weights and biases.")
    linear_params: int = Field(description="Dense layers in every conv's place, together.")
    cell: CellAnswer | None = None
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, result: StackResult, cell: StackCell | None = None) -> Self:
        blocks = []
        for block in result.blocks:
            costs = block.maps.costs()
            output = block.maps.output
            blocks.append(BlockAnswer(
                index=block.index, bank=block.maps.layer.name,
                activation=block.spec.activation, padding=block.spec.padding,
                pool=block.spec.pool, input_shape=list(block.input.shape),
                filters_shape=list(block.maps.layer.filters.shape),
                maps_shape=list(output.shape), output_shape=list(block.output.shape),
                params=costs.params, macs=costs.macs, linear_params=costs.linear_params,
                engine=block.maps.engine,
                stats=[MapStats(min=float(plane.min()), max=float(plane.max()),
                                mean=float(plane.mean(dtype=np.float64))) for plane in output],
            ))
        return cls(
            photo_shape=list(result.values.shape), photo_size=list(result.photo_size),
            blocks=blocks, params=sum(block.params for block in blocks),
            linear_params=sum(block.linear_params for block in blocks),
            cell=None if cell is None else CellAnswer.of(cell),
            timings_ms={name: round(value, 3) for name, value in result.timings_ms.items()},
        )

