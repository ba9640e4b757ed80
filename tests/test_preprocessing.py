"""drawing_to_digit: any drawing in, an MNIST-style 28x28 digit out (mnist-preprocessing.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageOps
from scipy import ndimage

from webapp.autoencoder.preprocessing import _box_resample, drawing_to_digit
from webapp.errors import NothingDrawn

HOLDOUT = Path(__file__).parent / "data" / "mnist-holdout.npz"


def held_out_digits() -> NDArray[np.uint8]:
    """Real MNIST digits (uint8, 28x28), the first ten one of each class 0..9."""
    with np.load(HOLDOUT) as data:
        digits: NDArray[np.uint8] = data["digits"]
    return digits


def draw_seven(
    *, size: int, left: int, top: int, canvas: int = 280, width: int | None = None
) -> Image.Image:
    """A "7" in white on black: a bar and a slanted stem, pen width size / 8 unless given."""
    image = Image.new("L", (canvas, canvas), 0)
    pen = ImageDraw.Draw(image)
    bar_end = (left + int(size * 0.7), top)
    pen.line([(left, top), bar_end], fill=255, width=width or size // 8)
    pen.line([bar_end, (left + int(size * 0.25), top + size)], fill=255, width=width or size // 8)
    return image


def place(digit: NDArray[np.uint8], *, size: int, left: int, top: int) -> Image.Image:
    """An MNIST digit scaled to size x size and pasted on a black 280x280 canvas."""
    canvas = Image.new("L", (280, 280), 0)
    canvas.paste(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC), (left, top))
    return canvas


def correlation(first: NDArray[np.float32], second: NDArray[np.float32]) -> float:
    return float(np.corrcoef(first.ravel(), second.ravel())[0, 1])


@pytest.mark.parametrize("index", range(10))
def test_small_in_a_corner_and_large_in_the_middle_give_the_same_digit(index: int) -> None:
    digit = held_out_digits()[index]
    small = drawing_to_digit(place(digit, size=60, left=4, top=214))
    large = drawing_to_digit(place(digit, size=250, left=15, top=15))
    assert np.abs(small - large).mean() < 0.03
    assert correlation(small, large) > 0.97


def test_a_seven_drawn_small_in_a_corner_equals_one_drawn_large_in_the_middle() -> None:
    small = drawing_to_digit(draw_seven(size=40, left=230, top=10))
    large = drawing_to_digit(draw_seven(size=240, left=20, top=20))
    assert np.abs(small - large).mean() < 0.03
    assert correlation(small, large) > 0.97


def test_a_huge_canvas_gives_the_same_digit_as_a_small_one() -> None:
    small = drawing_to_digit(draw_seven(size=200, left=40, top=40))
    huge = drawing_to_digit(draw_seven(size=2000, left=400, top=400, canvas=2800))
    assert np.abs(small - huge).mean() < 0.03
    assert correlation(small, huge) > 0.97


@pytest.mark.parametrize("index", range(10))
def test_an_mnist_digit_passes_through_unchanged(index: int) -> None:
    digit = held_out_digits()[index] / np.float32(255.0)
    result = drawing_to_digit(Image.fromarray(held_out_digits()[index]))
    # Only faint edge pixels (under the 0.1 ink threshold) outside the ink's box may go.
    np.testing.assert_allclose(result, digit, atol=0.1)
    assert np.abs(result - digit).mean() < 0.002


def test_dark_on_light_equals_light_on_dark() -> None:
    light_on_dark = draw_seven(size=200, left=40, top=40)
    dark_on_light = ImageOps.invert(light_on_dark)
    np.testing.assert_allclose(
        drawing_to_digit(dark_on_light), drawing_to_digit(light_on_dark), atol=1e-6
    )


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (200, 30, 30)])
def test_ink_on_a_transparent_background_is_read_from_the_alpha(
    colour: tuple[int, int, int],
) -> None:
    seven = draw_seven(size=200, left=40, top=40)
    # Transparent pixels often hold black RGB, which alone would read as black on black.
    painted = Image.new("RGBA", seven.size, (*colour, 0))
    painted.putalpha(seven)
    np.testing.assert_allclose(drawing_to_digit(painted), drawing_to_digit(seven), atol=1e-6)


def test_an_opaque_rgba_drawing_is_read_from_its_brightness() -> None:
    seven = draw_seven(size=200, left=40, top=40)
    on_paper = ImageOps.invert(seven).convert("RGBA")  # black ink, white paper, alpha all 255
    np.testing.assert_allclose(drawing_to_digit(on_paper), drawing_to_digit(seven), atol=1e-6)


def sixteen_bit(image: Image.Image) -> Image.Image:
    """The same drawing as a 16-bit greyscale image (0..65535)."""
    return Image.fromarray(np.asarray(image).astype(np.uint16) * 257)


@pytest.mark.parametrize(
    ("mode", "convert"),
    [
        ("L", lambda image: image),
        ("RGB", lambda image: image.convert("RGB")),
        ("LA", lambda image: image.convert("LA")),
        ("P", lambda image: image.convert("RGB").convert("P")),
        ("1", lambda image: image.convert("1")),
        ("I;16", sixteen_bit),
        ("I", lambda image: Image.fromarray(np.asarray(image).astype(np.int32) * 257)),
    ],
)
def test_every_image_mode_gives_the_same_digit(
    mode: str, convert: Callable[[Image.Image], Image.Image]
) -> None:
    seven = draw_seven(size=200, left=40, top=40)  # pure black and white: no mode loses it
    converted = convert(seven)
    assert converted.mode == mode
    np.testing.assert_allclose(drawing_to_digit(converted), drawing_to_digit(seven), atol=1e-5)


def test_one_pixel_strokes_on_a_large_canvas_survive() -> None:
    thin = drawing_to_digit(draw_seven(size=400, left=80, top=80, canvas=560, width=1))
    # The same 7 with a pen one MNIST pixel wide (20 canvas pixels).
    normal = drawing_to_digit(draw_seven(size=400, left=80, top=80, canvas=560, width=20))
    # Averaged down 20-fold, a 1 px line would be a grey 0.05 without thickening.
    assert thin.max() > 0.9
    assert (thin > 0.5).sum() >= 40
    assert correlation(thin, normal) > 0.9


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (280, 280), 255),
        Image.new("L", (280, 280), 0),
        Image.new("RGB", (280, 280), (255, 255, 255)),
        Image.new("RGBA", (280, 280), (0, 0, 0, 0)),
        Image.new("LA", (280, 280), (0, 0)),
    ],
    ids=["white", "black", "white RGB", "transparent RGBA", "transparent LA"],
)
def test_a_blank_drawing_is_nothing_drawn(image: Image.Image) -> None:
    with pytest.raises(NothingDrawn, match=r"^image has no ink in it; draw a digit") as caught:
        drawing_to_digit(image)
    assert caught.value.field == "image"
    assert caught.value.status_code == 422


def faint_noise() -> Image.Image:
    """White paper with scanner-like noise: grey levels 245..255, no ink anywhere."""
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(245, 256, (280, 280), dtype=np.uint8))


def faint_line() -> Image.Image:
    """A stroke so light (grey 240 on white 255) that it is below the ink threshold."""
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).line([(40, 40), (240, 240)], fill=240, width=10)
    return image


def speck() -> Image.Image:
    """A 2x2 px dot on a 560 px canvas: a stray click, not a digit."""
    image = Image.new("L", (560, 560), 0)
    ImageDraw.Draw(image).rectangle([(300, 300), (301, 301)], fill=255)
    return image


@pytest.mark.parametrize("make", [faint_noise, faint_line, speck])
def test_a_nearly_blank_drawing_is_nothing_drawn(make: Callable[[], Image.Image]) -> None:
    with pytest.raises(NothingDrawn, match=r"^image (has no ink|holds only a \d+x\d+ px speck)"):
        drawing_to_digit(make())


def drawings() -> list[Image.Image]:
    """Digits of every size and place, plus a "1" (tall and thin) and a "-" (wide and flat)."""
    digits = held_out_digits()
    images = [
        place(digits[index], size=size, left=left, top=top)
        for index, (size, left, top) in enumerate(
            [(60, 4, 214), (250, 15, 15), (120, 100, 20), (90, 180, 170), (200, 0, 80)]
        )
    ]
    one = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(one).line([(140, 30), (150, 250)], fill=255, width=18)
    dash = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(dash).line([(30, 140), (250, 150)], fill=255, width=18)
    return [*images, one, dash, draw_seven(size=200, left=40, top=40)]


@pytest.mark.parametrize("image", drawings())
def test_the_digit_is_28x28_float32_in_unit_range(image: Image.Image) -> None:
    digit = drawing_to_digit(image)
    assert digit.shape == (28, 28)
    assert digit.dtype == np.float32
    assert digit.min() >= 0.0
    assert 0.9 < digit.max() <= 1.0


@pytest.mark.parametrize("image", drawings())
def test_the_centre_of_mass_is_at_14_14(image: Image.Image) -> None:
    row, column = ndimage.center_of_mass(drawing_to_digit(image))
    assert abs(row - 14) <= 0.5
    assert abs(column - 14) <= 0.5


@pytest.mark.parametrize("image", drawings())
def test_the_longer_side_of_the_digit_is_20_pixels(image: Image.Image) -> None:
    digit = drawing_to_digit(image)
    rows = np.flatnonzero(digit.max(axis=1) > 0)
    columns = np.flatnonzero(digit.max(axis=0) > 0)
    height, width = rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1
    # 20 px of ink; placed a fraction of a pixel off the grid, its ends share a 21st pixel.
    assert max(height, width) in (20, 21)


@pytest.mark.parametrize(
    ("shape", "start", "length"),
    [((150, 130), (-20.3, -35.7), 210.0), ((9, 14), (-3.1, -2.2), 19.6),
     ((400, 20), (12.5, -190.25), 420.0), ((3, 3), (-1.0, -1.0), 4.2),
     ((150, 150), (-25.0, -30.0), 210.0)],  # slice ends exactly on pixel centres
)
def test_the_box_filter_resamples_as_pillow_does(
    shape: tuple[int, int], start: tuple[float, float], length: float
) -> None:
    """`_box_resample` is Pillow's BOX resize of a window (zeros outside the image); here
    Pillow itself, on the image padded with zeros, is the reference."""
    crop = np.random.default_rng(shape[0]).random(shape).astype(np.float32)
    top, left = start
    ours = _box_resample(crop, top, left, length)
    margin = int(length) + 2
    padded = np.pad(crop, margin)
    window = (left + margin, top + margin, left + margin + length, top + margin + length)
    pillows = Image.fromarray(padded).resize((28, 28), Image.Resampling.BOX, box=window)
    np.testing.assert_allclose(ours, np.asarray(pillows), atol=2e-6)


def test_compile_ahead_leaves_nothing_for_a_request_to_compile() -> None:
    """numba compiles one version per argument type (layout and writability included):
    after `compile_ahead`, drawings of every kind run on versions already compiled, so no
    request waits a second or two for the compiler."""
    import io

    from tests.drawings import drawing
    from webapp.autoencoder import preprocessing

    preprocessing.compile_ahead()
    loops = (preprocessing._border_median, preprocessing._ink_extent,
             preprocessing._ink_area_and_perimeter, preprocessing._box_resample)
    compiled = [len(loop.signatures) for loop in loops]
    pictures: list[Image.Image] = [Image.open(io.BytesIO(drawing(3, size=size, mode=mode)))
                                   for mode in ("RGB", "L", "RGBA") for size in (30, 200)]
    pictures.append(pictures[0].convert("P"))
    pictures.append(pictures[1].convert("LA"))
    sheet = Image.new("L", (1200, 900), 255)  # large, with a 1 px stroke: shrunk, thickened
    ImageDraw.Draw(sheet).line((100, 100, 900, 800), fill=0, width=1)
    pictures.append(sheet)
    pictures.append(Image.fromarray(np.asarray(sheet).astype(np.uint16) * 257))  # 16-bit
    for picture in pictures:
        drawing_to_digit(picture)
    assert [len(loop.signatures) for loop in loops] == compiled
