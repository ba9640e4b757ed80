"""The convlens command: --help, serving options and offline convolution."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import encode, gradient_photo
from webapp.cli import build_parser, main


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
    code = main(["convolve", str(photo), "--kernel", "nope", "-o", str(tmp_path / "x.png")])
    assert code == 2
    assert "Unknown kernel 'nope'" in capsys.readouterr().err
