"""The ``convlens`` command: serve the app, or convolve and reconstruct files offline.

    convlens                                  serve on 127.0.0.1:8000
    convlens --host 0.0.0.0 --port 8080 --workers 2
    convlens convolve photo.jpg --kernel sobel-x --stride 2 -o edges.png
    convlens convolve photo.jpg --operation max-pool --pool-size 2 --stride 2 -o pooled.png
    convlens reconstruct three.png -o rebuilt.png

A user's mistake (a missing file, an option out of range, an unknown output extension, an
unreadable image, a missing model) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, get_args

from pydantic import BaseModel, ValidationError

from webapp import __version__
from webapp.arithmetic import PaddingName
from webapp.display import Display
from webapp.errors import ConvlensError, InvalidInput, ModelUnavailable, field_errors
from webapp.images import Color, OutputFormat
from webapp.kernels import PRESETS
from webapp.options import OPERATIONS, PhotoOptions
from webapp.padding import PaddingMode

if TYPE_CHECKING:
    from webapp.server.settings import Settings

OUTPUT_EXTENSIONS: dict[str, OutputFormat] = {
    **{image_format: image_format for image_format in get_args(OutputFormat)},
    "jpg": "jpeg",
}
"""The output file's extension decides its format."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (argparse prints the usage above them)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _default(model: type[BaseModel], name: str) -> object:
    """A field's default, as the API documents it: the CLI repeats no value of its own."""
    return model.model_fields[name].default


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (default: %(default)s)"
    )
    parser.add_argument("--reload", action="store_true", help="restart when the code changes")


def _add_convolve_options(convolve: argparse.ArgumentParser) -> None:
    """The photo options, their choices read from the core's types and defaults from
    `webapp.options.PhotoOptions`."""
    extensions = ", ".join(f".{extension}" for extension in OUTPUT_EXTENSIONS)
    convolve.add_argument("image", type=Path, help="input image (PNG, JPEG, WebP, GIF, BMP)")
    convolve.add_argument("-o", "--output", type=Path, required=True,
                          help=f"output image file; its extension ({extensions}) is its format")
    kernel = convolve.add_mutually_exclusive_group()
    kernel.add_argument("--kernel", choices=list(PRESETS), metavar="NAME",
                        help=f"a preset: {', '.join(PRESETS)} (default: identity)")
    kernel.add_argument("--weights", help="your own kernel as JSON, e.g. '[[-1,0,1]]'")
    for name in ("stride", "dilation", "pool_size"):
        field = PhotoOptions.model_fields[name]
        convolve.add_argument(f"--{name.replace('_', '-')}", type=int, default=field.default,
                              help=f"{field.description} (default: %(default)s)")
    convolve.add_argument(
        "--padding", default=_default(PhotoOptions, "padding"),
        help=f"{', '.join(get_args(PaddingName))} or a number of cells (default: %(default)s)",
    )
    convolve.add_argument("--padding-mode", choices=get_args(PaddingMode),
                          default=_default(PhotoOptions, "padding_mode"))
    convolve.add_argument("--flip", action="store_true", help="true convolution (flip the kernel)")
    convolve.add_argument("--operation", choices=OPERATIONS,
                          default=_default(PhotoOptions, "operation"),
                          help="convolve, or pool each --pool-size window (default: %(default)s)")
    convolve.add_argument("--color", choices=get_args(Color),
                          default=_default(PhotoOptions, "color"))
    convolve.add_argument("--display", choices=get_args(Display),
                          help="how signed outputs become pixels (default: by the kernel)")
    convolve.add_argument("--json", action="store_true", help="print the arithmetic as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        "convolve", help="apply a kernel (or a pooling) to an image file",
        description="Apply a kernel or a pooling to an image and write the result (PNG, WebP "
        "or JPEG by the output's extension).",
    )
    _add_convolve_options(convolve)

    reconstruct = commands.add_parser(
        "reconstruct", help="rebuild a drawn digit with an MNIST autoencoder",
        description="Prepare a drawing as MNIST digits were made, run an autoencoder and "
        "write its 28x28 reconstruction (PNG, WebP or JPEG by the output's extension).",
    )
    reconstruct.add_argument("image", type=Path, help="a drawing of one digit, any size")
    reconstruct.add_argument("-o", "--output", type=Path, required=True,
                             help="the reconstruction (28x28)")
    reconstruct.add_argument("--model", default="seed", help="model name (default: %(default)s)")
    reconstruct.add_argument("--noise", type=float, default=0.0,
                             help="noise added to the input, 0..1 (default: %(default)s)")
    reconstruct.add_argument("--input-output", type=Path,
                             help="also write the 28x28 input the model received")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; a user's error is one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "convolve":
            return _convolve(args)
        if args.command == "reconstruct":
            return _reconstruct(args)
        return _serve(args)
    except ConvlensError as error:
        return _fail(error.message)
    except ValidationError as error:
        return _fail(" ".join(_option_sentence(item) for item in field_errors(error.errors())))


def _fail(message: str) -> int:
    print(f"convlens: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _option_sentence(error: InvalidInput) -> str:
    """A field's sentence with the field spelled as the command line spells it."""
    field = error.field or ""
    if field and error.message.startswith(field):
        return f"--{field.replace('_', '-')}{error.message[len(field):]}"
    return error.message


def _settings() -> Settings:
    """The CONVLENS_* settings; a bad one is named as the environment spells it."""
    from webapp.server.settings import Settings, get_settings

    try:
        return get_settings()
    except ValidationError as error:
        prefix = str(Settings.model_config.get("env_prefix", ""))
        sentences = [
            f"{prefix}{item.field.upper()}{item.message[len(item.field):]}"
            if item.field and item.message.startswith(item.field) else item.message
            for item in field_errors(error.errors())
        ]
        raise InvalidInput(" ".join(sentences), field="settings") from None


def _read(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}.", field=field) from None


def _write(path: Path, data: bytes, field: str) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        raise InvalidInput(f"cannot write {path}: {error.strerror or error}.",
                           field=field) from None


def output_format(path: Path, field: str = "output") -> OutputFormat:
    """The format an output file's extension names, or an error listing the ones known.

    >>> output_format(Path("edges.JPG"))
    'jpeg'
    """
    extension = path.suffix.lower().lstrip(".")
    if extension not in OUTPUT_EXTENSIONS:
        known = ", ".join(f".{name}" for name in OUTPUT_EXTENSIONS)
        raise InvalidInput(
            f"cannot write {path}: the output's extension must be one of {known}.",
            field=field,
        )
    return OUTPUT_EXTENSIONS[extension]


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from webapp.server.observability import shared_metrics_directory

    # Several processes share /metrics through files that must exist before they start.
    with shared_metrics_directory(args.workers):
        uvicorn.run(
            "webapp.main:app", host=args.host, port=args.port, workers=args.workers,
            reload=args.reload,
            access_log=False,  # convlens writes its own, with request ids and timings
        )
    return 0


def _convolve(args: argparse.Namespace) -> int:
    from webapp.options import parse_json_field
    from webapp.photos import convolve_photo

    options = PhotoOptions(
        kernel=args.kernel or (None if args.weights else "identity"),
        weights=parse_json_field(args.weights, "weights") if args.weights else None,
        stride=args.stride,
        padding=args.padding,  # "same", or "2": pydantic reads a number from the text
        padding_mode=args.padding_mode,
        dilation=args.dilation,
        flip=args.flip,
        operation=args.operation,
        pool_size=args.pool_size,
        color=args.color,
        display=args.display,
        format=output_format(args.output),
    )
    limits = _settings().photo_limits
    result = convolve_photo(_read(args.image, "image"), options, **limits)
    _write(args.output, result.encoded, "output")
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
    from webapp.autoencoder.registry import ModelLoadError, ModelRegistry
    from webapp.images import encode_image

    settings = _settings()
    image_format = output_format(args.output)
    input_format = output_format(args.input_output, "input-output") if args.input_output else "png"
    options = ReconstructOptions(model=args.model, noise=args.noise)
    drawing = _read(args.image, "image")
    try:
        models = ModelRegistry(settings.model_dir, providers=settings.providers)
    except ModelLoadError as error:
        raise ModelUnavailable(str(error), field="model") from None
    result = reconstruct_drawing(drawing, options, models, max_pixels=settings.max_pixels)
    _write(args.output, encode_image(to_gray_pixels(result.output), image_format), "output")
    if args.input_output:
        _write(args.input_output, encode_image(to_gray_pixels(result.digit), input_format),
               "input-output")
    code = "x".join(map(str, result.latent.shape))
    print(f"{args.image} -> {args.output} with {result.model.name} on {result.model.provider}: "
          f"BCE {result.bce:.4f}, MSE {result.mse:.4f}, code {code}")
    return 0
