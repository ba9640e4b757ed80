"""Convolution arithmetic against numbers worked by hand (conv-arithmetic.md)."""

from __future__ import annotations

import pytest

from webapp.arithmetic import (
    Padding,
    StackLayer,
    axis_arithmetic,
    conv_parameters,
    convolution_costs,
    effective_kernel_size,
    linear_parameters,
    output_size,
    padding_per_side,
    receptive_box,
    receptive_field,
)
from webapp.errors import InvalidArithmetic


@pytest.mark.parametrize(
    ("n", "k", "s", "d", "padding", "expected_padding", "expected_output"),
    [
        (5, 3, 1, 1, "valid", (0, 0), 3),  # the lesson: (5,) -> (3,)
        (5, 3, 1, 1, 1, (1, 1), 5),  # one zero each side keeps 5
        (5, 3, 1, 1, "same", (1, 1), 5),
        (5, 3, 1, 1, "full", (2, 2), 7),  # R4: n + k - 1
        (5, 3, 2, 1, "valid", (0, 0), 2),
        (7, 3, 2, 1, "same", (1, 1), 4),  # ceil(7 / 2)
        (6, 3, 2, 1, "same", (0, 1), 3),  # odd cell at the end
        (5, 4, 1, 1, "same", (1, 2), 5),  # even kernel: odd cell at the end
        (5, 3, 1, 2, "valid", (0, 0), 1),  # k_eff = 5
        (9, 3, 1, 2, "same", (2, 2), 9),
        (10, 3, 3, 1, "valid", (0, 0), 3),  # one cell dropped
        (28, 3, 1, 1, "same", (1, 1), 28),
        (16, 3, 1, 1, "valid", (0, 0), 14),  # the autoencoder's valid conv
    ],
)
def test_axis_arithmetic_matches_hand_worked_numbers(
    n: int, k: int, s: int, d: int, padding: Padding, expected_padding: tuple[int, int],
    expected_output: int,
) -> None:
    assert padding_per_side(n, k, stride=s, dilation=d, padding=padding) == expected_padding
    axis = axis_arithmetic(n, k, stride=s, dilation=d, padding=padding)
    assert (axis.padding_lo, axis.padding_hi, axis.output) == (*expected_padding, expected_output)
    assert output_size(n, k, stride=s, dilation=d, padding_lo=expected_padding[0],
                       padding_hi=expected_padding[1]) == expected_output
    assert axis.formula.endswith(f"= {expected_output}")


def test_axis_arithmetic_reports_dropped_cells() -> None:
    # 10 cells, 3-wide kernel, stride 3: windows start at 0, 3, 6; cell 9 is never read.
    assert axis_arithmetic(10, 3, stride=3).dropped == 1
    assert axis_arithmetic(9, 3, stride=3).dropped == 0


@pytest.mark.parametrize(("k", "d", "expected"), [(3, 1, 3), (3, 2, 5), (3, 3, 7), (1, 5, 1)])
def test_effective_kernel_size(k: int, d: int, expected: int) -> None:
    assert effective_kernel_size(k, d) == expected


def test_empty_output_is_refused_with_the_arithmetic() -> None:
    with pytest.raises(InvalidArithmetic, match=r"floor\(\(2 \+ 0 \+ 0 - 5\) / 1\) \+ 1 = -2"):
        axis_arithmetic(2, 5, axis_name="width")


@pytest.mark.parametrize(("stride", "dilation"), [(0, 1), (1, 0), (-1, 1)])
def test_stride_and_dilation_below_one_are_refused(stride: int, dilation: int) -> None:
    with pytest.raises(InvalidArithmetic):
        axis_arithmetic(8, 3, stride=stride, dilation=dilation)


def test_parameter_counts_match_the_lesson() -> None:
    assert conv_parameters(3, 3, 1, 16) == 160
    assert conv_parameters(3, 3, 16, 8) == 1160
    assert conv_parameters(3, 3, 8, 4) == 292
    assert conv_parameters(3, 3, 4, 4) == 148
    assert conv_parameters(3, 3, 4, 8) == 296
    assert conv_parameters(3, 3, 8, 16) == 1168
    assert conv_parameters(3, 3, 16, 1) == 145
    assert linear_parameters(784, 10) == 7850


def test_costs_of_the_lesson_example() -> None:
    costs = convolution_costs((5,), (3,), (3,))
    assert (costs.params, costs.macs, costs.linear_params) == (3, 9, 5 * 3 + 3)


@pytest.mark.parametrize(
    ("stack", "expected_fields"),
    [
        ([StackLayer("conv", 3)], [3]),
        ([StackLayer("conv", 3), StackLayer("conv", 3)], [3, 5]),
        ([StackLayer("conv", 3), StackLayer("max_pool", 2, stride=2)], [3, 4]),
        (
            [StackLayer("conv", 3), StackLayer("max_pool", 2, stride=2), StackLayer("conv", 3)],
            [3, 4, 8],
        ),
        ([StackLayer("conv", 3, dilation=2)], [5]),
        ([StackLayer("conv", 3, stride=2), StackLayer("conv", 3, stride=2)], [3, 7]),
    ],
)
def test_receptive_fields_of_worked_stacks(
    stack: list[StackLayer], expected_fields: list[int]
) -> None:
    assert [field.receptive_field for field in receptive_field(stack)] == expected_fields


def test_receptive_field_tracks_sizes_jumps_and_centres() -> None:
    quiz = [StackLayer("conv", 3), StackLayer("max_pool", 2, stride=2), StackLayer("conv", 3)]
    fields = receptive_field(quiz, input_size=32)
    assert [f.output_size for f in fields] == [30, 15, 13]
    assert [f.jump for f in fields] == [1, 2, 2]
    assert receptive_box(fields[-1], 0) == (0.0, 7.0)
    assert receptive_box(fields[-1], 1) == (2.0, 9.0)
    padded = receptive_field([StackLayer("conv", 3, padding="same")], input_size=8)
    assert receptive_box(padded[0], 0) == (-1.0, 1.0)  # reaches one cell into the padding
