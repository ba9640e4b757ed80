"""The ``convlens`` command: serve the app, or convolve and reconstruct files offline.

    convlens                                  serve on 127.0.0.1:8000
    convlens --host 0.0.0.0 --port 8080 --workers 2
    convlens convolve photo.jpg --kernel sobel-x --stride 2 -o edges.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from webapp import __version__
from webapp.errors import ConvlensError


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (default: %(default)s)"
    )
    parser.add_argument("--reload", action="store_true", help="restart when the code changes")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convlens",
        description="See the layers of a convolutional network. With no command: serve the "
        "web app and API (settings come from CONVLENS_* environment variables).",
    )
    parser.add_argument("--version", action="version", version=f"convlens {__version__}")
    _add_serve_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the web app and API (the default)")
    _add_serve_options(serve)

    convolve = commands.add_parser(
        "convolve", help="apply a kernel to an image file",
        description="Apply a kernel to an image and write the result (PNG, WebP or JPEG by "
        "the output's extension).",
    )
    convolve.add_argument("image", type=Path, help="input image (PNG, JPEG, WebP, GIF, BMP)")
    convolve.add_argument("-o", "--output", type=Path, required=True, help="output image file")
    kernel = convolve.add_mutually_exclusive_group()
    kernel.add_argument("--kernel", default=None, help="preset name (default: identity)")
    kernel.add_argument("--weights", help="your own kernel as JSON, e.g. '[[-1,0,1]]'")
    convolve.add_argument("--stride", type=int, default=1, help="default: %(default)s")
    convolve.add_argument(
        "--padding", default="valid", help="valid, same, full or a number (default: %(default)s)"
    )
    convolve.add_argument(
        "--padding-mode", default="zeros", choices=["zeros", "reflect", "replicate", "circular"]
    )
    convolve.add_argument("--dilation", type=int, default=1, help="default: %(default)s")
    convolve.add_argument("--flip", action="store_true", help="true convolution (flip the kernel)")
    convolve.add_argument("--color", default="rgb", choices=["rgb", "gray"])
    convolve.add_argument("--display", choices=["clip", "abs", "normalize", "diverging"])
    convolve.add_argument("--json", action="store_true", help="print the arithmetic as JSON")

    reconstruct = commands.add_parser(
        "reconstruct", help="rebuild a drawn digit with an MNIST autoencoder",
        description="Prepare a drawing as MNIST digits were made, run an autoencoder and "
        "write its 28x28 reconstruction as PNG.",
    )
    reconstruct.add_argument("image", type=Path, help="a drawing of one digit, any size")
    reconstruct.add_argument("-o", "--output", type=Path, required=True,
                             help="the reconstruction (28x28 PNG)")
    reconstruct.add_argument("--model", default="seed", help="model name (default: %(default)s)")
    reconstruct.add_argument("--noise", type=float, default=0.0,
                             help="noise added to the input, 0..1 (default: %(default)s)")
    reconstruct.add_argument("--input-output", type=Path,
                             help="also write the 28x28 input the model received")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "convolve":
            return _convolve(args)
        if args.command == "reconstruct":
            return _reconstruct(args)
        return _serve(args)
    except ConvlensError as error:
        print(f"convlens: {error.message}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "webapp.main:app", host=args.host, port=args.port, workers=args.workers,
        reload=args.reload,
        access_log=False,  # convlens writes its own, with request ids and timings
    )
    return 0


def _convolve(args: argparse.Namespace) -> int:
    from webapp.options import PhotoOptions, parse_json_field
    from webapp.photos import convolve_photo
    from webapp.server.settings import get_settings

    suffix = args.output.suffix.lower().lstrip(".")
    image_format = {"jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}.get(suffix, "png")
    options = PhotoOptions(
        kernel=args.kernel or (None if args.weights else "identity"),
        weights=parse_json_field(args.weights, "weights") if args.weights else None,
        stride=args.stride,
        padding=int(args.padding) if args.padding.isdigit() else args.padding,
        padding_mode=args.padding_mode,
        dilation=args.dilation,
        flip=args.flip,
        color=args.color,
        display=args.display,
        format=image_format,
    )
    result = convolve_photo(args.image.read_bytes(), options, **get_settings().photo_limits)
    args.output.write_bytes(result.encoded)
    shape = "x".join(map(str, result.input_shape))
    out_shape = "x".join(map(str, result.output_shape))
    if args.json:
        from webapp.photos import PhotoAnswer

        print(PhotoAnswer.of(result).model_dump_json(indent=2, exclude={"image"}))
    else:
        print(f"{args.image} {shape} -> {args.output} {out_shape}")
        print(f"  height: {result.convolution.rows.formula}")
        print(f"  width:  {result.convolution.columns.formula}")
    return 0


def _reconstruct(args: argparse.Namespace) -> int:
    from webapp.autoencoder.reconstruction import (
        ReconstructOptions,
        reconstruct_drawing,
        to_gray_pixels,
    )
    from webapp.autoencoder.registry import ModelRegistry
    from webapp.images import encode_image
    from webapp.server.settings import get_settings

    settings = get_settings()
    models = ModelRegistry(settings.model_dir, providers=settings.providers)
    options = ReconstructOptions(model=args.model, noise=args.noise)
    result = reconstruct_drawing(args.image.read_bytes(), options, models,
                                 max_pixels=settings.max_pixels)
    args.output.write_bytes(encode_image(to_gray_pixels(result.output)))
    if args.input_output:
        args.input_output.write_bytes(encode_image(to_gray_pixels(result.digit)))
    code = "x".join(map(str, result.latent.shape))
    print(f"{args.image} -> {args.output} with {result.model.name} on {result.model.provider}: "
          f"BCE {result.bce:.4f}, MSE {result.mse:.4f}, code {code}")
    return 0
