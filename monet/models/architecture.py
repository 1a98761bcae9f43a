"""The networks' factory arguments and what follows from them, without importing Keras.

A checkpoint stores these dictionaries; :mod:`monet.models.networks` builds the models from them. Keeping the
arithmetic here (receptive field, parameter counts) lets ``pipeline.py --dry-run``, ``--list`` and the Kaggle
notebook's own process describe a run without loading TensorFlow (on a TPU VM only one process may hold the TPU).

Generators (``kind``):
- ``resnet``: the report's ResNet generator (Johnson et al.; the CycleGAN paper's), ``filters``,
  ``down_blocks`` 0..5, ``res_blocks`` >= 0.
- ``unet``: the U-Net of pix2pix and Kaggle's public tutorial, ``filters`` (first block; doubling to at most
  8x), ``depth`` 1..8 stride-2 blocks (8 takes 256 px down to 1 px), ``dropout`` in the first three up blocks.

Models (``cyclegan.model``): ``cyclegan`` (four networks), or ``cut`` / ``fastcut`` (Park et al. 2020, one
generator gen_g, disc_y and the projection network net_f of PatchNCE; :func:`nce_args`). PatchNCE reads features
of gen_g's encoder at positions of :func:`nce_layers` (the generator's available layers, fine to coarse):

- ResNet: the reflection-padded input, the output of each stride-2 down conv (before its norm), the output of each
  residual block. Default (:func:`default_nce_layers`): the padded input, the first two down convs, residual
  blocks 1 and 5 (the last one if fewer): the official ``nce_layers 0,4,8,12,16`` of the CUT code's ResNet, whose
  default down-sampling is anti-aliased (a stride-1 conv, then a blur-pool): its layers 4 and 8 are stride-1 convs
  at full and half resolution, ours the stride-2 convs' outputs at half and a quarter.
- U-Net: the input, and the output of each down block's stride-2 conv (before its norm and activation). Default:
  the input and the first four down convs (128, 64, 32 and 16 px at 256 px): the encoder side, fine to coarse, as
  the official choice is; the deeper blocks have fewer than 256 positions and see most of the image.
"""
from __future__ import annotations

__all__ = ["model_args", "MODELS", "CUT_DEFAULTS", "nce_layers", "default_nce_layers", "nce_args",
           "net_f_parameters", "describe_nce", "discriminator_parameters", "GENERATORS", "generator_args", "unet_filters", "discriminator_args", "discriminator_layers",
           "receptive_field", "generator_parameters"]

GENERATORS = ("resnet", "unet")
MODELS = ("cyclegan", "cut", "fastcut")
# The official defaults of CUT and FastCUT (taesungp/contrastive-unpaired-translation, models/cut_model.py).
CUT_DEFAULTS = {"cut": {"lambda_nce": 1.0, "nce_idt": True, "flip_equivariance": False},
                "fastcut": {"lambda_nce": 10.0, "nce_idt": False, "flip_equivariance": True}}


def generator_args(kind: str = "resnet", filters: int = 64, down_blocks: int = 2, res_blocks: int = 9,
                   depth: int = 8, dropout: float = 0.5, identity_start: bool = False) -> dict:
    """The keyword arguments of the generator factory of ``kind`` (stored in checkpoints), with ``kind``;
    ``identity_start`` only when set (checkpoints written before it rebuild as they were)."""
    start = {"identity_start": True} if identity_start else {}
    if kind == "resnet":
        if filters < 1 or not 0 <= down_blocks <= 5 or res_blocks < 0:
            raise ValueError(f"bad resnet generator arguments: filters={filters}, down_blocks={down_blocks}, "
                             f"res_blocks={res_blocks}")
        return {"kind": "resnet", "filters": int(filters), "down_blocks": int(down_blocks),
                "res_blocks": int(res_blocks), **start}
    if kind == "unet":
        if filters < 1 or not 1 <= depth <= 8 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"bad unet generator arguments: filters={filters}, depth={depth}, dropout={dropout}")
        return {"kind": "unet", "filters": int(filters), "depth": int(depth), "dropout": float(dropout), **start}
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


def discriminator_parameters(args: dict) -> int:
    """Trainable parameters of the PatchGAN that ``args`` (:func:`discriminator_args`) builds (a test checks it
    against Keras)."""
    total, channels, k = 0, 3, args["kernel"]
    for i in range(args["blocks"]):
        f = min(args["filters"] * 2 ** i, 512)
        normed = i > 0 and args["norm"] == "instance"
        total += k * k * channels * f + (f if i == 0 or args["norm"] == "none" else 0) + (2 * f if normed else 0)
        channels = f
    return total + args["out_kernel"] ** 2 * channels + 1


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


def nce_layers(args: dict) -> list[tuple[str, int]]:
    """(name, channels) of every layer of the generator ``args`` builds that PatchNCE may read, fine to coarse
    (see the module's docstring); ``nce_layers`` params are positions in this list."""
    f = args["filters"]
    if args.get("kind", "resnet") == "unet":
        return [("input", 3)] + [(f"down conv {i + 1}", c) for i, c in enumerate(unet_filters(f, args["depth"]))]
    down = [(f"down conv {i + 1}", f * 2 ** (i + 1)) for i in range(args["down_blocks"])]
    res = [(f"res block {i + 1}", f * 2 ** args["down_blocks"]) for i in range(args["res_blocks"])]
    return [("padded input", 3)] + down + res


def default_nce_layers(args: dict) -> list[int]:
    """The default positions in :func:`nce_layers`: ResNet: the padded input, the first two down convs, residual
    blocks 1 and 5 (the last one when there are fewer); U-Net: the input and the first four down convs."""
    if args.get("kind", "resnet") == "unet":
        return list(range(1 + min(4, args["depth"])))
    down, res = args["down_blocks"], args["res_blocks"]
    picks = [0, *range(1, 1 + min(2, down))] + ([down + 1, down + min(5, res)] if res else [])
    return sorted(set(picks))


def nce_args(cfg: dict, generator: dict) -> dict:
    """CUT / FastCUT's settings from the ``cyclegan`` section, each null resolved to the model's default: the NCE
    layers (positions in :func:`nce_layers`), net_f's units, lambda_NCE, the identity NCE term, flip equivariance,
    the temperature and the patches per layer. Raises ValueError naming the key."""
    model, available = cfg["model"], nce_layers(generator)
    if model not in CUT_DEFAULTS:
        raise ValueError(f"cyclegan.model {model!r}: CUT's settings exist for cut and fastcut only")
    layers = cfg.get("nce_layers")
    layers = default_nce_layers(generator) if layers is None else [layers] if isinstance(layers, int) else layers
    names = ", ".join(f"{i}: {n}" for i, (n, _) in enumerate(available))
    bad = [i for i in layers if not 0 <= i < len(available)]
    if bad or not layers or len(set(layers)) != len(layers):
        raise ValueError(f"cyclegan.nce_layers {cfg.get('nce_layers')}: expected distinct positions among this "
                         f"generator's {len(available)} layers ({names})")
    pick = lambda key: CUT_DEFAULTS[model][key] if cfg.get(key) is None else cfg[key]  # noqa: E731
    return {"layers": [int(i) for i in layers], "units": int(cfg.get("netf_units", 256)),
            "lambda": float(pick("lambda_nce")), "idt": bool(pick("nce_idt")),
            "flip": bool(pick("flip_equivariance")), "temperature": float(cfg.get("nce_t", 0.07)),
            "patches": int(cfg.get("num_patches", 256))}


def net_f_parameters(generator: dict, nce: dict) -> int:
    """Trainable parameters of net_f: per NCE layer of C channels, Dense(C -> units) and Dense(units -> units)."""
    u, available = nce["units"], nce_layers(generator)
    return sum(available[i][1] * u + u + u * u + u for i in nce["layers"])


def describe_nce(generator: dict, nce: dict) -> str:
    """One line for the plan and the training log: the NCE layers by name and the settings of :func:`nce_args`."""
    names = [nce_layers(generator)[i][0] for i in nce["layers"]]
    return (f"NCE layers {nce['layers']} ({', '.join(names)}), {nce['patches']} patches each, lambda_NCE "
            f"{nce['lambda']:g}, nce_idt {'on' if nce['idt'] else 'off'}, flip_equivariance "
            f"{'on' if nce['flip'] else 'off'}, T {nce['temperature']:g}; net_f {nce['units']} units "
            f"({net_f_parameters(generator, nce):,} parameters)")


def model_args(cfg: dict) -> dict:
    """The factory arguments of the models, from the ``cyclegan`` params section: generator and discriminator
    (CycleGAN's four models; checkpoints written before CUT carry just these), and for ``model`` cut / fastcut
    also ``model`` and ``nce`` (:func:`nce_args`, which rebuild net_f)."""
    args = {
        "generator": generator_args(
            cfg["generator"], cfg["gen_filters"], cfg["gen_down_blocks"], cfg["gen_res_blocks"],
            depth=cfg["unet_depth"], dropout=cfg["unet_dropout"], identity_start=cfg.get("identity_start", False)),
        "discriminator": discriminator_args(
            blocks=cfg["disc_blocks"], filters=cfg["disc_filters"], kernel=cfg["disc_kernel"],
            strides=cfg["disc_strides"], activation=cfg["disc_activation"], norm=cfg["disc_norm"],
            out_kernel=cfg["disc_out_kernel"], out_stride=cfg["disc_out_stride"],
            out_padding=cfg["disc_out_padding"]),
    }
    if cfg.get("model", "cyclegan") != "cyclegan":
        args = {"model": cfg["model"], **args, "nce": nce_args(cfg, args["generator"])}
    return args
