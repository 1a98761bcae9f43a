"""The networks' factory arguments and what follows from them, without importing Keras.

A checkpoint stores these dictionaries; :mod:`monet.models.networks` builds the models from them. Keeping the
arithmetic here (receptive field, parameter counts) lets ``pipeline.py --dry-run``, ``--list`` and the Kaggle
notebook's own process describe a run without loading TensorFlow (on a TPU VM only one process may hold the TPU).

Generators (``kind``):
- ``resnet``: the report's ResNet generator (Johnson et al.; the CycleGAN paper's), ``filters``,
  ``down_blocks`` 0..5, ``res_blocks`` >= 0.
- ``unet``: the U-Net of pix2pix and Kaggle's public tutorial, ``filters`` (first block; doubling to at most
  8x), ``depth`` 1..8 stride-2 blocks (8 takes 256 px down to 1 px), ``dropout`` in the first three up blocks.
"""
from __future__ import annotations

__all__ = ["model_args", "GENERATORS", "generator_args", "unet_filters", "discriminator_args", "discriminator_layers",
           "receptive_field", "generator_parameters"]

GENERATORS = ("resnet", "unet")


def generator_args(kind: str = "resnet", filters: int = 64, down_blocks: int = 2, res_blocks: int = 9,
                   depth: int = 8, dropout: float = 0.5) -> dict:
    """The keyword arguments of the generator factory of ``kind`` (stored in checkpoints), with ``kind``."""
    if kind == "resnet":
        if filters < 1 or not 0 <= down_blocks <= 5 or res_blocks < 0:
            raise ValueError(f"bad resnet generator arguments: filters={filters}, down_blocks={down_blocks}, "
                             f"res_blocks={res_blocks}")
        return {"kind": "resnet", "filters": int(filters), "down_blocks": int(down_blocks),
                "res_blocks": int(res_blocks)}
    if kind == "unet":
        if filters < 1 or not 1 <= depth <= 8 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"bad unet generator arguments: filters={filters}, depth={depth}, dropout={dropout}")
        return {"kind": "unet", "filters": int(filters), "depth": int(depth), "dropout": float(dropout)}
    raise ValueError(f"generator kind {kind!r}: expected one of {', '.join(GENERATORS)}")


def unet_filters(filters: int, depth: int) -> list[int]:
    """Filters of the U-Net's down blocks: filters x 1, 2, 4, 8, 8, 8... (the tutorial: 64-128-256-512-512-...)."""
    return [filters * min(2 ** i, 8) for i in range(depth)]


def generator_parameters(args: dict) -> int:
    """Trainable parameters of the generator that ``args`` builds (a test checks it against Keras)."""
    if args.get("kind", "resnet") == "unet":
        down = unet_filters(args["filters"], args["depth"])
        total, channels = 0, 3
        for i, f in enumerate(down):  # 4x4 stride-2 conv without bias; instance norm after all but the first
            total += 16 * channels * f + (2 * f if i else 0)
            channels = f
        for f, skip in zip(reversed(down[:-1]), reversed(down[:-1])):  # 4x4 transposed conv, IN, then concat
            total += 16 * channels * f + 2 * f
            channels = f + skip
        return total + 16 * channels * 3 + 3  # the last transposed conv to RGB, with bias
    f, total = args["filters"], 0
    total += 49 * 3 * f + 2 * f
    for _ in range(args["down_blocks"]):
        total += 9 * f * 2 * f + 4 * f
        f *= 2
    total += args["res_blocks"] * 2 * (9 * f * f + 2 * f)
    for _ in range(args["down_blocks"]):
        g = max(f // 2, 1)
        total += 9 * f * g + 2 * g
        f = g
    return total + 49 * f * 3 + 3


def discriminator_args(blocks: int = 4, filters: int = 64, kernel: int = 4, strides=(2, 2, 2, 1),
                       activation: str = "leaky_relu", norm: str = "instance", out_kernel: int = 4,
                       out_stride: int = 1, out_padding: str = "valid") -> dict:
    """The keyword arguments of :func:`monet.models.networks.patch_discriminator` (stored in checkpoints), strides as a
    list."""
    strides = [int(strides)] * int(blocks) if isinstance(strides, int) else [int(s) for s in strides]
    if len(strides) != blocks:
        raise ValueError(f"strides {strides} must give one stride per block ({blocks} blocks)")
    return {"blocks": int(blocks), "filters": int(filters), "kernel": int(kernel), "strides": strides,
            "activation": activation, "norm": norm, "out_kernel": int(out_kernel), "out_stride": int(out_stride),
            "out_padding": out_padding}


def discriminator_layers(**kwargs) -> list[tuple[int, int]]:
    """(kernel, stride) of each conv of the PatchGAN, input to output."""
    a = discriminator_args(**kwargs)
    return [(a["kernel"], s) for s in a["strides"]] + [(a["out_kernel"], a["out_stride"])]


def receptive_field(convs: list[tuple[int, int]]) -> int:
    """Side in input pixels of the patch one output unit sees, for a chain of (kernel, stride) convs.

    Walks back from one output unit: r_in = (r_out - 1) * stride + kernel.
    """
    r = 1
    for kernel, stride in reversed(convs):
        r = (r - 1) * stride + kernel
    return r


def model_args(cfg: dict) -> dict:
    """The factory arguments of the four models, from the ``cyclegan`` params section."""
    return {
        "generator": generator_args(
            cfg["generator"], cfg["gen_filters"], cfg["gen_down_blocks"], cfg["gen_res_blocks"],
            depth=cfg["unet_depth"], dropout=cfg["unet_dropout"]),
        "discriminator": discriminator_args(
            blocks=cfg["disc_blocks"], filters=cfg["disc_filters"], kernel=cfg["disc_kernel"],
            strides=cfg["disc_strides"], activation=cfg["disc_activation"], norm=cfg["disc_norm"],
            out_kernel=cfg["disc_out_kernel"], out_stride=cfg["disc_out_stride"],
            out_padding=cfg["disc_out_padding"]),
    }
