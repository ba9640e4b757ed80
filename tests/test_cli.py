"""The convlens command: --help, serving options and offline convolution."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from PIL import Image

from tests.conftest import encode, gradient_photo
from webapp.cli import OUTPUT_EXTENSIONS, build_parser, main
from webapp.display import Display
from webapp.images import Color, OutputFormat
from webapp.kernels import PRESETS
from webapp.options import Operation
from webapp.padding import PaddingMode


def test_help_lists_the_serving_options() -> None:
    result = subprocess.run([sys.executable, "-m", "webapp", "--help"], capture_output=True,
                            text=True, check=True)
    for option in ("--host", "--port", "--workers", "convolve"):
        assert option in result.stdout


def test_serving_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.workers, args.command) == ("127.0.0.1", 8000, 1, None)
    args = build_parser().parse_args(["--port", "9000", "--host", "0.0.0.0"])
    assert (args.host, args.port) == ("0.0.0.0", 9000)


def test_convolve_writes_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode(gradient_photo(40, 30)))
    output = tmp_path / "edges.png"
    code = main(["convolve", str(photo), "--kernel", "sobel-x", "--stride", "2", "-o", str(output)])
    assert code == 0
    with Image.open(output) as image:
        assert image.size == (14, 19)  # floor((30-3)/2)+1 by floor((40-3)/2)+1
    assert "floor((40 + 0 + 0 - 3) / 2) + 1 = 19" in capsys.readouterr().out


def test_convolve_json_and_custom_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode(gradient_photo(20, 20)))
    output = tmp_path / "out.webp"
    assert main(["convolve", str(photo), "--weights", "[[1, -1]]", "--padding", "same",
                 "--json", "-o", str(output)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["output_shape"] == [20, 20, 3]
    with Image.open(output) as image:
        assert image.format == "WEBP"


def test_convolve_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode(gradient_photo(10, 10)))
    code = main(["convolve", str(photo), "--weights", "[[1, 2], [3]]",
                 "-o", str(tmp_path / "x.png")])
    assert code == 2
    assert capsys.readouterr().err == (
        "convlens: weights is ragged: row 0 has 2 values but row 1 has 1; every row needs the "
        "same length.\n"
    )


def run_convlens(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """The real command, as a user runs it (``python -m webapp`` is ``convlens``)."""
    return subprocess.run([sys.executable, "-m", "webapp", *args], capture_output=True,
                          text=True, env={**os.environ, **environment}, timeout=120)


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    photo = tmp_path_factory.mktemp("cli") / "photo.png"
    photo.write_bytes(encode(gradient_photo(16, 12)))
    return photo


@pytest.mark.parametrize(
    ("case", "arguments", "environment", "expected"),
    [
        ("missing input file", ["convolve", "{missing}", "-o", "{out}/x.png"], {},
         "convlens: cannot read {missing}: No such file or directory."),
        ("a folder as input", ["convolve", "{folder}", "-o", "{out}/x.png"], {},
         "convlens: cannot read {folder}: Is a directory."),
        ("stride 0", ["convolve", "{photo}", "--stride", "0", "-o", "{out}/x.png"], {},
         "convlens: --stride must be a whole number >= 1, not 0."),
        ("negative padding", ["convolve", "{photo}", "--padding", "-3", "-o", "{out}/x.png"], {},
         "convlens: --padding must be 'valid', 'same', 'full' or a whole number >= 0, not -3."),
        ("pool size over the kernel cap", ["convolve", "{photo}", "--operation", "max-pool",
                                           "--pool-size", "40", "-o", "{out}/x.png"], {},
         "convlens: pool_size is 40; at most 31 is allowed."),
        ("unknown output extension", ["convolve", "{photo}", "-o", "{out}/x.tiff"], {},
         "convlens: cannot write {out}/x.tiff: the output's extension must be one of .png, "
         ".webp, .jpeg, .jpg."),
        ("output folder missing", ["convolve", "{photo}", "-o", "{missing}/x.png"], {},
         "convlens: cannot write {missing}/x.png: No such file or directory."),
        ("not an image", ["convolve", "{text}", "-o", "{out}/x.png"], {},
         "convlens: image is not an image convlens can read (PNG, JPEG, WebP, GIF or BMP)."),
        ("weights too large", ["convolve", "{photo}", "--weights", "[[1e308]]",
                               "-o", "{out}/x.png"], {}, "convlens: weights: the output overflows"),
        ("weights not JSON", ["convolve", "{photo}", "--weights", "[[1,", "-o", "{out}/x.png"],
         {}, "convlens: weights is not valid JSON"),
        ("unknown preset", ["convolve", "{photo}", "--kernel", "nope", "-o", "{out}/x.png"], {},
         "convlens convolve: argument --kernel: invalid choice: 'nope'"),
        ("not a number", ["convolve", "{photo}", "--stride", "two", "-o", "{out}/x.png"], {},
         "convlens convolve: argument --stride: invalid int value: 'two'"),
        ("unknown model", ["reconstruct", "{photo}", "--model", "nope", "-o", "{out}/r.png"], {},
         "convlens: Unknown model 'nope'; valid names:"),
        ("no models at all", ["reconstruct", "{photo}", "-o", "{out}/r.png"],
         {"CONVLENS_MODEL_DIR": "{out}"}, "convlens: No models (*.onnx) in {out}"),
        ("noise out of range", ["reconstruct", "{photo}", "--noise", "2", "-o", "{out}/r.png"],
         {}, "convlens: --noise must be a number <= 1, not 2.0."),
        ("a bad setting", ["convolve", "{photo}", "-o", "{out}/x.png"],
         {"CONVLENS_MAX_PIXELS": "many"},
         "convlens: CONVLENS_MAX_PIXELS must be a whole number, not 'many'."),
    ],
    ids=lambda value: value if isinstance(value, str) and " " in value else "",
)
def test_every_user_error_is_one_line_and_exit_2(
    tmp_path: Path, photo_file: Path, case: str, arguments: list[str],
    environment: dict[str, str], expected: str,
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    places = {"photo": photo_file, "out": tmp_path, "missing": tmp_path / "nope",
              "folder": tmp_path, "text": text}

    def filled(value: str) -> str:
        return value.format(**{name: str(path) for name, path in places.items()})

    result = run_convlens(*map(filled, arguments),
                          **{name: filled(value) for name, value in environment.items()})
    assert result.returncode == 2, (case, result.stderr)
    assert result.stdout == "", case
    lines = result.stderr.splitlines()
    assert len(lines) == 1, (case, result.stderr)
    assert lines[0].startswith(filled(expected)), (case, lines[0])
    assert not (tmp_path / "x.tiff").exists()


def convolve_arguments(*options: str) -> argparse.Namespace:
    return build_parser().parse_args(["convolve", "in.png", "-o", "out.png", *options])


def test_the_choices_are_the_cores_types(capsys: pytest.CaptureFixture[str]) -> None:
    """Padding modes, colours, displays, operations, kernels and output extensions come from
    the core's types, so a new one reaches the command line by itself."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["convolve", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    for option, choices in [("--padding-mode", get_args(PaddingMode)), ("--color", get_args(Color)),
                            ("--display", get_args(Display)), ("--operation", get_args(Operation))]:
        assert f"{option} {{{','.join(choices)}}}" in usage
        for choice in choices:
            args = convolve_arguments(option, choice)
            assert getattr(args, option[2:].replace("-", "_")) == choice
    for name in PRESETS:
        assert convolve_arguments("--kernel", name).kernel == name
    assert set(OUTPUT_EXTENSIONS.values()) == set(get_args(OutputFormat))
    assert all(f".{extension}" in usage for extension in OUTPUT_EXTENSIONS)


def test_convolve_pools(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode(gradient_photo(40, 30)))
    output = tmp_path / "pooled.jpg"
    assert main(["convolve", str(photo), "--operation", "avg-pool", "--pool-size", "2",
                 "--stride", "2", "--json", "-o", str(output)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["output_shape"], answer["params"], answer["operation"]) == (
        [20, 15, 3], 0, "avg-pool"
    )
    with Image.open(output) as image:
        assert (image.format, image.size) == ("JPEG", (15, 20))
