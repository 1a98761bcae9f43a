"""Every architecture, behind small factories that take explicit arguments.

- :func:`generator`: builds the generator that :func:`monet.models.architecture.generator_args` describes:
  :func:`resnet_generator` (the report's, Johnson et al. / CycleGAN paper) or :func:`unet_generator`
  (pix2pix / Kaggle's public tutorial).
- :func:`patch_discriminator`: a configurable PatchGAN; :func:`receptive_field` gives its patch size.
- :func:`instance_norm`, :class:`ReflectionPadding2D`: the building blocks they share.
- :func:`nce_encoder`: a model sharing a generator's layers that returns the features PatchNCE reads (CUT);
  :func:`projection_mlp`: CUT's net_f, one small MLP per NCE layer.

Inputs are float images in [-1, 1], NHWC. The factories return plain ``keras.Model`` objects that save to
``.keras`` files (the custom layer is registered). The argument dictionaries and the arithmetic on them
(receptive field, parameter counts) live in :mod:`monet.models.architecture`, which does not import Keras.
"""
from __future__ import annotations

import keras
from keras import layers

from monet.models.architecture import GENERATORS, discriminator_args, generator_args, nce_layers, unet_filters

__all__ = ["ReflectionPadding2D", "PhotoPlus", "painting", "instance_norm", "generator", "resnet_generator",
           "unet_generator",
           "patch_discriminator", "nce_encoder", "projection_mlp"]


def _init() -> keras.initializers.Initializer:
    """N(0, 0.02), as the paper initialises weights. A fresh initializer per layer: one shared instance would
    fix its seed at import time (before seeding) and give same-shaped layers identical weights."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


@keras.saving.register_keras_serializable(package="monet")
class ReflectionPadding2D(layers.Layer):
    """Pads height and width by ``padding`` pixels, mirroring the border (no zero seams in generated images)."""

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return keras.ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (n, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def instance_norm(name: str | None = None, gamma_init: str | keras.initializers.Initializer = "ones") -> layers.Layer:
    """Instance normalization (GroupNormalization with one group per channel), learnable scale and offset."""
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, gamma_initializer=gamma_init, name=name)


def generator(kind: str = "resnet", name: str = "generator", **kwargs) -> keras.Model:
    """The generator of ``kind`` ('resnet' or 'unet') built from the rest of :func:`generator_args`'s dict.
    Checkpoints written before the U-Net existed have no ``kind``: they are ResNets."""
    if kind == "resnet":
        return resnet_generator(**kwargs, name=name)
    if kind == "unet":
        return unet_generator(**kwargs, name=name)
    raise ValueError(f"generator kind {kind!r}: expected one of {', '.join(GENERATORS)}")


def _activation(kind: str) -> layers.Layer:
    if kind == "relu":
        return layers.ReLU()
    if kind == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.2)
    raise ValueError(f"activation must be 'relu' or 'leaky_relu', got {kind!r}")


def resnet_generator(filters: int = 64, down_blocks: int = 2, res_blocks: int = 9,
                     name: str = "generator", identity_start: bool = False) -> keras.Model:
    """The report's ResNet generator; the defaults are the report's (11.4 M parameters).

    reflection pad 3, 7x7 conv (``filters``), instance norm, ReLU;
    ``down_blocks`` x [3x3 stride-2 conv doubling filters, instance norm, ReLU];
    ``res_blocks`` x [reflect pad, 3x3 conv, IN, ReLU, reflect pad, 3x3 conv, IN, skip add];
    ``down_blocks`` x [3x3 stride-2 transposed conv halving filters, IN, ReLU];
    reflection pad 3, 7x7 conv to 3 channels, tanh (see :func:`painting` for ``identity_start``).

    Allowed: filters >= 1, down_blocks 0..5, res_blocks >= 0. Fully convolutional: any input size divisible
    by 2**down_blocks works; the output has the input's size.
    """
    generator_args("resnet", filters, down_blocks, res_blocks)  # raises on bad values
    inputs = keras.Input(shape=(None, None, 3), name="photo")
    x = ReflectionPadding2D(3)(inputs)
    x = layers.Conv2D(filters, 7, kernel_initializer=_init(), use_bias=False)(x)
    x = layers.ReLU()(instance_norm()(x))
    f = filters
    for _ in range(down_blocks):
        f *= 2
        x = layers.Conv2D(f, 3, strides=2, padding="same", kernel_initializer=_init(), use_bias=False)(x)
        x = layers.ReLU()(instance_norm()(x))
    for _ in range(res_blocks):
        y = ReflectionPadding2D(1)(x)
        y = layers.Conv2D(f, 3, kernel_initializer=_init(), use_bias=False)(y)
        y = layers.ReLU()(instance_norm()(y))
        y = ReflectionPadding2D(1)(y)
        y = layers.Conv2D(f, 3, kernel_initializer=_init(), use_bias=False)(y)
        y = instance_norm()(y)
        x = layers.Add()([x, y])
    for _ in range(down_blocks):
        f //= 2
        x = layers.Conv2DTranspose(max(f, 1), 3, strides=2, padding="same", kernel_initializer=_init(),
                                   use_bias=False)(x)
        x = layers.ReLU()(instance_norm()(x))
    x = ReflectionPadding2D(3)(x)
    x = layers.Conv2D(3, 7, kernel_initializer="zeros" if identity_start else _init())(x)
    return keras.Model(inputs, painting(inputs, x, identity_start), name=name)


def painting(photo, x, identity_start: bool = False):
    """The generator's output from its last conv ``x``: tanh, in float32 even under a mixed-precision policy (tanh
    and the losses need the range). With ``identity_start`` the photo plus that tanh, clipped to [-1, 1], with the
    last conv starting at zero: the generator starts as the identity, so it cannot begin worse than the photos."""
    if not identity_start:
        return layers.Activation("tanh", dtype="float32", name="painting")(x)
    change = layers.Activation("tanh", dtype="float32", name="change")(x)
    return PhotoPlus(dtype="float32", name="painting")([photo, change])


@keras.saving.register_keras_serializable(package="monet")
class PhotoPlus(layers.Layer):
    """``clip(photo + change, -1, 1)``: the output of a generator that starts as the identity."""

    def call(self, inputs):
        photo, change = inputs
        return keras.ops.clip(keras.ops.cast(photo, change.dtype) + change, -1.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape[1]


def unet_generator(filters: int = 64, depth: int = 8, dropout: float = 0.5, name: str = "generator",
                   identity_start: bool = False) -> keras.Model:
    """The U-Net of pix2pix and Kaggle's public tutorial; the defaults are the tutorial's (54.4 M parameters).

    ``depth`` down blocks: 4x4 stride-2 conv (no bias) with filters x1, x2, x4, x8, x8... (64-128-256-512-512-512-
    512-512), instance norm on all but the first, leaky ReLU 0.3 as in the tutorial; ``depth - 1`` up blocks:
    4x4 stride-2 transposed conv mirroring them, instance norm, dropout ``dropout`` in the first three, ReLU,
    then concatenation with the down block of the same size (the skip); a last 4x4 stride-2 transposed conv to
    RGB and tanh (see :func:`painting` for ``identity_start``).

    Allowed: filters >= 1, depth 1..8, dropout in [0, 1). Input sides must be divisible by 2**depth (256 for
    depth 8); the output has the input's size.
    """
    generator_args("unet", filters, depth=depth, dropout=dropout)  # raises on bad values
    # Instance-norm scale ~ N(1, 0.02), epsilon 1e-5 (pix2pix's PyTorch code: a scale near 1 leaves each normalised
    # block's output as it is at the start). Kaggle's tutorial draws its tfa InstanceNormalization gamma from
    # N(0, 0.02) with epsilon 1e-3, which starts every normalised block near zero; the 54,414,979 parameters are
    # the same either way.
    gamma = lambda: keras.initializers.RandomNormal(mean=1.0, stddev=0.02)  # noqa: E731
    inputs = keras.Input(shape=(None, None, 3), name="photo")
    x, skips = inputs, []
    down = unet_filters(filters, depth)
    for i, f in enumerate(down):
        x = layers.Conv2D(f, 4, strides=2, padding="same", kernel_initializer=_init(), use_bias=False)(x)
        if i > 0:
            x = instance_norm(gamma_init=gamma())(x)
        x = layers.LeakyReLU(negative_slope=0.3)(x)
        skips.append(x)
    for i, (f, skip) in enumerate(zip(reversed(down[:-1]), reversed(skips[:-1]))):
        x = layers.Conv2DTranspose(f, 4, strides=2, padding="same", kernel_initializer=_init(), use_bias=False)(x)
        x = instance_norm(gamma_init=gamma())(x)
        if i < 3 and dropout > 0:
            x = layers.Dropout(dropout)(x)
        x = layers.ReLU()(x)
        x = layers.Concatenate()([x, skip])
    x = layers.Conv2DTranspose(3, 4, strides=2, padding="same",
                               kernel_initializer="zeros" if identity_start else _init())(x)
    return keras.Model(inputs, painting(inputs, x, identity_start), name=name)


def patch_discriminator(blocks: int = 4, filters: int = 64, kernel: int = 4, strides=(2, 2, 2, 1),
                        activation: str = "leaky_relu", norm: str = "instance", out_kernel: int = 4,
                        out_stride: int = 1, out_padding: str = "valid",
                        name: str = "discriminator") -> keras.Model:
    """A PatchGAN: ``blocks`` conv blocks, then a 1-filter output conv giving one logit per patch.

    Block i: conv with ``filters * 2**i`` filters (at most 512), ``kernel``, ``strides[i]`` (an int means the
    same stride for all), padding 'same'; instance norm on every block but the first when ``norm`` is
    'instance' ('none' disables it); ``activation`` 'relu' or 'leaky_relu' (slope 0.2).
    Output conv: 1 filter, ``out_kernel``, ``out_stride``, ``out_padding`` 'valid' or 'same'; no activation
    (logits: least-squares or cross-entropy losses apply their own).

    Defaults are the classic 70x70 PatchGAN. The report's best model: blocks=3, filters=8, kernel=2,
    strides=2, activation='relu' (32x32 patches); its exp2: blocks=4, filters=64, same kernels (64x64).
    """
    a = discriminator_args(blocks, filters, kernel, strides, activation, norm, out_kernel, out_stride, out_padding)
    if a["norm"] not in ("instance", "none"):
        raise ValueError(f"norm must be 'instance' or 'none', got {norm!r}")
    if a["out_padding"] not in ("valid", "same"):
        raise ValueError(f"out_padding must be 'valid' or 'same', got {out_padding!r}")
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = inputs
    for i, stride in enumerate(a["strides"]):
        x = layers.Conv2D(min(filters * 2 ** i, 512), kernel, strides=stride, padding="same",
                          kernel_initializer=_init(), use_bias=(i == 0 or norm == "none"))(x)
        if i > 0 and norm == "instance":
            x = instance_norm()(x)
        x = _activation(activation)(x)
    x = layers.Conv2D(1, out_kernel, strides=out_stride, padding=out_padding, kernel_initializer=_init())(x)
    outputs = layers.Activation("linear", dtype="float32", name="patch_logits")(x)
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------------------------- CUT
def _nce_tensors(gen: keras.Model, kind: str) -> list:
    """The symbolic tensors of every layer of :func:`monet.models.architecture.nce_layers`, found by the layers'
    types in build order (the generators' layers keep Keras's automatic names: weights files address layers by
    class and order, so checkpoints and saved generators load as before)."""
    convs = [layer.output for layer in gen.layers
             if type(layer) is layers.Conv2D and tuple(layer.strides) == (2, 2)]  # the down convs, not transposed
    if kind == "unet":
        return [gen.input, *convs]
    padded = next(layer.output for layer in gen.layers if isinstance(layer, ReflectionPadding2D))
    return [padded, *convs, *[layer.output for layer in gen.layers if isinstance(layer, layers.Add)]]


def nce_encoder(gen: keras.Model, args: dict, positions: list[int], name: str = "nce_encoder") -> keras.Model:
    """A model sharing ``gen``'s layers (no weights of its own) that maps images to the features at
    ``positions`` of :func:`monet.models.architecture.nce_layers` (``args``: the generator's), always a list."""
    tensors = _nce_tensors(gen, args.get("kind", "resnet"))
    if len(tensors) != len(nce_layers(args)):
        raise ValueError(f"generator {gen.name}: found {len(tensors)} NCE layers, its args describe "
                         f"{len(nce_layers(args))}")
    return keras.Model(gen.input, [tensors[i] for i in positions], name=name)


def _xavier(gain: float = 0.02) -> keras.initializers.Initializer:
    """Xavier (Glorot) normal scaled by ``gain``: std = gain * sqrt(2 / (fan_in + fan_out)), the CUT code's
    ``init_type xavier, init_gain 0.02``."""
    return keras.initializers.VarianceScaling(scale=gain ** 2, mode="fan_avg", distribution="untruncated_normal")


def projection_mlp(channels: list[int], units: int = 256, name: str = "net_f") -> keras.Model:
    """CUT's net_f ('mlp_sample'): for each NCE layer of ``channels[i]`` channels, Dense(units) -> ReLU ->
    Dense(units) on every sampled patch, then each patch vector divided by its L2 norm (Keras's
    UnitNormalization: x / sqrt(max(|x|^2, 1e-12)); the CUT code divides by |x| + 1e-7). Input i: (batch,
    patches, channels[i]); outputs: a list of (batch, patches, units). Xavier-normal weights with gain 0.02, zero
    biases; float32 under every precision policy (the features are cast to it)."""
    inputs, outputs = [], []
    for i, c in enumerate(channels):
        x = keras.Input(shape=(None, c), name=f"layer_{i}", dtype="float32")
        h = layers.Dense(units, kernel_initializer=_xavier(), dtype="float32")(x)
        h = layers.ReLU(dtype="float32")(h)
        h = layers.Dense(units, kernel_initializer=_xavier(), dtype="float32")(h)
        inputs.append(x)
        outputs.append(layers.UnitNormalization(axis=-1, dtype="float32")(h))
    return keras.Model(inputs, outputs, name=name)
