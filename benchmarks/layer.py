"""Benchmark the conv layer (`webapp.layer.apply_layer`) against PyTorch's conv2d on the CPU.

    python benchmarks/layer.py            # 11 rounds
    python benchmarks/layer.py --quick    # 5 rounds

A 3 -> 16 and a 16 -> 16 layer of 3x3 filters with a bias, "same" zero padding, on float32
inputs of 512^2 and 1024^2, at stride 1 and 2: convlens's engine (onnxruntime's Conv on
the padded input) and ``torch.nn.functional.conv2d`` run on the same numbers in the same
process, interleaved round by round; each row is the ratio of their medians. The target
(`TARGET`) is at most 1.5 x PyTorch's time. A third column times the other engine that
was measured for the same job, numpy's im2col and matrix product (what float64 inputs
use), to show why photos go to onnxruntime.

Needs the ``bench`` extra (torch: ``pip install torch==2.13.0``, the CPU build).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.results import Report, write_section  # noqa: E402
from benchmarks.timing import interleaved  # noqa: E402
from webapp.layer import _numpy_layer, apply_layer, layer_geometry, make_layer  # noqa: E402

TARGET = 1.5
"""convlens's layer may take at most this many times PyTorch's conv2d."""

LAYERS = [(3, 16), (16, 16)]
SIZES = [512, 1024]
STRIDES = [1, 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 11")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    rounds = 5 if args.quick else 11
    say = Report()
    say(f"torch {torch.__version__} on {torch.get_num_threads()} threads; "
        f"target: convlens <= {TARGET} x torch")
    say(f"{'layer':<9}{'input':>7}{'stride':>7}{'torch ms':>10}{'convlens ms':>13}"
        f"{'ratio':>7}{'numpy ms':>10}  target")
    missed = 0
    for in_channels, out_channels in LAYERS:
        for size in SIZES:
            for stride in STRIDES:
                rng = np.random.default_rng(size + in_channels)
                values = rng.normal(0, 1, (in_channels, size, size)).astype(np.float32)
                weights = rng.normal(0, 0.2, (out_channels, in_channels, 3, 3))
                bias = rng.normal(0, 0.1, out_channels)
                layer = make_layer(weights, bias, in_channels=in_channels)
                tensor, filters = torch.from_numpy(values[np.newaxis]), torch.from_numpy(
                    weights.astype(np.float32))
                offsets = torch.from_numpy(bias.astype(np.float32))

                def ours(values: np.ndarray = values, layer: object = layer,
                         stride: int = stride) -> object:
                    return apply_layer(values, layer, stride=stride,  # type: ignore[arg-type]
                                       padding="same")

                def theirs(tensor: torch.Tensor = tensor, filters: torch.Tensor = filters,
                           offsets: torch.Tensor = offsets, stride: int = stride) -> object:
                    with torch.no_grad():
                        return torch.nn.functional.conv2d(tensor, filters, offsets,
                                                          stride=stride, padding=1)

                rows, columns = layer_geometry(size, size, layer, stride=stride,
                                               padding="same")
                padded = np.pad(values, ((0, 0), (rows.padding_lo, rows.padding_hi),
                                         (columns.padding_lo, columns.padding_hi)))

                def by_numpy(padded: np.ndarray = padded, weights: np.ndarray = weights,
                             rows: object = rows, columns: object = columns) -> object:
                    return _numpy_layer(padded, weights, rows, columns, 1)  # type: ignore[arg-type]

                # The same numbers out of both at stride 1 (at stride 2 "same" pads an even
                # side by 0 and 1, TensorFlow's split, where torch pads 1 and 1: the same
                # work, cells shifted by one).
                if stride == 1:
                    np.testing.assert_allclose(
                        apply_layer(values, layer, padding="same").output,
                        theirs().numpy()[0],  # type: ignore[attr-defined]
                        rtol=1e-4, atol=1e-3)
                torch_s, ours_s, numpy_s = interleaved([theirs, ours, by_numpy], rounds)
                ratio = ours_s / torch_s
                met = ratio <= TARGET
                missed += not met
                say(f"{in_channels:>2} -> {out_channels:<3}{size:>6}^2{stride:>7}"
                    f"{torch_s * 1000:>10.1f}{ours_s * 1000:>13.1f}{ratio:>7.2f}"
                    f"{numpy_s * 1000:>10.1f}  {'met' if met else 'MISSED'}")
    say()
    say(f"ratio: convlens / torch, medians of {rounds} interleaved rounds (float32, 'same' "
        "zero padding, bias); numpy: the im2col engine on the same padded input. "
        + ("Every row met its target." if not missed
           else f"{missed} row(s) missed the target."))
    if not args.no_write:
        write_section("layer.py", "python benchmarks/layer.py" + (" --quick" if args.quick
                                                                  else ""), say.lines)


if __name__ == "__main__":
    main()
