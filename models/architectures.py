"""The autoencoders of convlens, as PyTorch modules named the way Keras names layers.

    seed     upsampling_autoencoder((16, 8, 4)): the lesson's model, its table row for row
    wide     upsampling_autoencoder((32, 32, 16)); denoise uses it too
    deconv   transposed_autoencoder((16, 8, 4)): the seed encoder, a transposed-convolution
             decoder

(models/training/recipes.py names each model's decoder and channels; `autoencoder` builds it.)

Layers are written like the note's Keras code (`conv(16, 8)`, `pool()`, ...) and named like
Keras names them (conv2d, conv2d_1, max_pooling2d, ...), so the model summary, the ONNX
graph's outputs and its initializers (`conv2d.weight`) all use the lesson's names.
Tensors are NCHW (PyTorch); shapes are reported as (height, width, channels), as Keras does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from models.training.recipes import Decoder

LESSON_TABLE: list[tuple[str, tuple[int, int, int], int]] = [
    ("conv2d", (28, 28, 16), 160),
    ("max_pooling2d", (14, 14, 16), 0),
    ("conv2d_1", (14, 14, 8), 1160),
    ("max_pooling2d_1", (7, 7, 8), 0),
    ("conv2d_2", (7, 7, 4), 292),
    ("max_pooling2d_2", (4, 4, 4), 0),
    ("conv2d_3", (4, 4, 4), 148),
    ("up_sampling2d", (8, 8, 4), 0),
    ("conv2d_4", (8, 8, 8), 296),
    ("up_sampling2d_1", (16, 16, 8), 0),
    ("conv2d_5", (14, 14, 16), 1168),
    ("up_sampling2d_2", (28, 28, 16), 0),
    ("conv2d_6", (28, 28, 1), 145),
]
"""The lesson's model summary (lesson.md section 4): name, output shape (H, W, C), params."""

LESSON_PARAMS = 3369


@dataclass
class Layer:
    """One row of a Keras model summary: a conv and its activation are one layer."""

    kind: str  # the Keras class name: Conv2D, MaxPooling2D, UpSampling2D, Conv2DTranspose
    module: nn.Module
    activation: str | None = None  # "relu", "sigmoid", or None for pooling and upsampling
    name: str = ""  # filled in by `_name_like_keras`


def conv(
    channels_in: int, channels_out: int, *, activation: str = "relu", padding: str = "same"
) -> Layer:
    """Conv2D with a 3x3 kernel; "same" pads one pixel so 28x28 stays 28x28, "valid" shrinks."""
    pad = 1 if padding == "same" else 0
    return Layer("Conv2D", nn.Conv2d(channels_in, channels_out, 3, padding=pad), activation)


def pool() -> Layer:
    """MaxPooling2D 2x2 with Keras's padding="same": an odd side rounds up (7 -> 4)."""
    return Layer("MaxPooling2D", nn.MaxPool2d(2, ceil_mode=True))


def upsample() -> Layer:
    """UpSampling2D 2x2: every value is copied into a 2x2 block (nearest neighbour)."""
    return Layer("UpSampling2D", nn.Upsample(scale_factor=2.0, mode="nearest"))


def transposed(
    channels_in: int, channels_out: int, *, output_padding: int, activation: str = "relu"
) -> Layer:
    """Conv2DTranspose 3x3, stride 2: learns its own upsampling instead of copying values.

    Output side = (input - 1) * 2 - 2 + 3 + output_padding, so 4 -> 7 with output_padding 0
    and 7 -> 14 -> 28 with 1 (Keras: `padding="same", output_padding=...`). The 3x3 kernel
    moved by 2 overlaps itself unevenly, which paints a checkerboard on the output.
    """
    module = nn.ConvTranspose2d(
        channels_in, channels_out, 3, stride=2, padding=1, output_padding=output_padding
    )
    return Layer("Conv2DTranspose", module, activation)


def _name_like_keras(layers: list[Layer]) -> list[Layer]:
    """Name layers the way Keras does: conv2d, conv2d_1, ..., max_pooling2d, max_pooling2d_1."""
    base = {
        "Conv2D": "conv2d",
        "MaxPooling2D": "max_pooling2d",
        "UpSampling2D": "up_sampling2d",
        "Conv2DTranspose": "conv2d_transpose",
    }
    seen: dict[str, int] = {}
    for layer in layers:
        count = seen.get(layer.kind, 0)
        seen[layer.kind] = count + 1
        layer.name = base[layer.kind] + (f"_{count}" if count else "")
    return layers


def upsampling_autoencoder(channels: tuple[int, int, int]) -> list[Layer]:
    """The lesson's design: three conv+pool steps down, three upsample+conv steps back.

    With channels (16, 8, 4) this is the lesson's model row for row; (32, 32, 16) is `wide`.
    """
    first, second, third = channels
    return _name_like_keras(
        [
            conv(1, first),
            pool(),  # 28 -> 14
            conv(first, second),
            pool(),  # 14 -> 7
            conv(second, third),
            pool(),  # 7 -> 4: the code, 4x4xthird numbers
            conv(third, third),
            upsample(),  # 4 -> 8
            conv(third, second),
            upsample(),  # 8 -> 16
            conv(second, first, padding="valid"),  # 16 -> 14, so that the next x2 lands on 28
            upsample(),  # 14 -> 28
            conv(first, 1, activation="sigmoid"),  # one channel of pixel values in (0, 1)
        ]
    )


def transposed_autoencoder(channels: tuple[int, int, int]) -> list[Layer]:
    """The same encoder, with each UpSampling2D + Conv2D pair replaced by one Conv2DTranspose.

    Each replacement has exactly the parameters of the conv it replaces (a 3x3 kernel from the
    same channels to the same channels), so with (16, 8, 4) the budget stays the seed model's
    3,369: only the way of growing the image differs. 4 -> 7 -> 14 -> 28 on the way up.
    """
    first, second, third = channels
    return _name_like_keras(
        [
            conv(1, first),
            pool(),
            conv(first, second),
            pool(),
            conv(second, third),
            pool(),
            conv(third, third),
            transposed(third, second, output_padding=0),  # 4 -> 7
            transposed(second, first, output_padding=1),  # 7 -> 14
            transposed(first, 1, output_padding=1, activation="sigmoid"),  # 14 -> 28
        ]
    )


class Autoencoder(nn.Module):
    """A stack of layers returning the reconstruction, then every layer's output in order.

    That is the ONNX file's contract too: the app reads the reconstruction and, when the
    learner asks, each layer's feature maps from one run.

    Each layer is a module attribute named like the Keras layer (`self.conv2d`, ...), so the
    parameters are `conv2d.weight`, `conv2d.bias`: the names the ONNX initializers get, from
    which the app counts each layer's parameters.
    """

    def __init__(self, layers: list[Layer], latent: str) -> None:
        super().__init__()
        self.layers = layers
        self.latent = latent
        for layer in layers:
            self.add_module(layer.name, layer.module)
        # Keras's initialisation (glorot_uniform, zero biases): the lesson's model as Keras made it.
        for layer in layers:
            if isinstance(layer.module, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.xavier_uniform_(layer.module.weight)
                assert layer.module.bias is not None
                nn.init.zeros_(layer.module.bias)

    def forward(self, digit: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = []
        value = digit
        for layer in self.layers:
            value = layer.module(value)
            if layer.activation == "relu":
                value = torch.relu(value)
            elif layer.activation == "sigmoid":
                value = torch.sigmoid(value)
            outputs.append(value)
        return (value, *outputs)

    def reconstruct(self, digit: torch.Tensor) -> torch.Tensor:
        """The last layer's output: the rebuilt digit."""
        outputs: tuple[torch.Tensor, ...] = self(digit)
        return outputs[0]


def autoencoder(decoder: Decoder, channels: tuple[int, int, int], latent: str) -> Autoencoder:
    """A freshly initialised model: the layers `decoder` names, with these channels."""
    builders = {"upsampling": upsampling_autoencoder, "transposed": transposed_autoencoder}
    return Autoencoder(builders[decoder](channels), latent)


def layer_table(model: Autoencoder) -> list[dict[str, Any]]:
    """Name, Keras type, activation, output shape [h, w, c] and parameters of every layer."""
    with torch.no_grad():
        outputs = model(torch.zeros(1, 1, 28, 28))[1:]
    table = []
    for layer, output in zip(model.layers, outputs, strict=True):
        _, channels, height, width = output.shape
        table.append(
            {
                "name": layer.name,
                "type": layer.kind,
                "activation": layer.activation,
                "output_shape": [height, width, channels],
                "params": sum(p.numel() for p in layer.module.parameters()),
            }
        )
    return table


def keras_summary(name: str, table: list[dict[str, Any]]) -> str:
    """The table as Keras's `model.summary()` prints it (shapes in NHWC, as the lesson shows)."""
    rule = "_" * 72
    lines = [f'Model: "{name}"', rule, f" {'Layer (type)':<37}{'Output Shape':<24}Param #"]
    lines.append("=" * 72)
    lines.append(f" {'input (InputLayer)':<37}{'(None, 28, 28, 1)':<24}0")
    for row in table:
        layer = f"{row['name']} ({row['type']})"
        shape = "(None, " + ", ".join(str(side) for side in row["output_shape"]) + ")"
        lines.append(f" {layer:<37}{shape:<24}{row['params']:,}")
    total = sum(row["params"] for row in table)
    lines += ["=" * 72, f"Total params: {total:,}", f"Trainable params: {total:,}"]
    lines += ["Non-trainable params: 0", rule]
    return "\n".join(lines)


def check_lesson_table(table: list[dict[str, Any]]) -> None:
    """Fail unless the seed model is the lesson's, row for row."""
    rows = [(row["name"], tuple(row["output_shape"]), row["params"]) for row in table]
    if rows != LESSON_TABLE:
        raise SystemExit(f"seed differs from the lesson's table:\n{rows}\n{LESSON_TABLE}")
    total = sum(row["params"] for row in table)
    if total != LESSON_PARAMS:
        raise SystemExit(f"seed has {total} parameters, the lesson's model {LESSON_PARAMS}")
