"""CUT and FastCUT (Park, Efros, Zhang, Zhu, ECCV 2020, "Contrastive Learning for Unpaired Image-to-Image
Translation"): one generator ``gen_g``: X -> Y (the one we submit), its discriminator ``disc_y`` and the projection
network ``net_f``; no gen_f, disc_x, cycle loss or image pool.

gen_g's loss is the adversarial loss plus PatchNCE: features of several layers of gen_g's encoder
(:func:`monet.models.architecture.nce_layers`) for the input x (the keys) and for G(x) fed again through the
encoder (the queries), ``num_patches`` positions per layer drawn once per step (the same for queries and keys and
for every image of the batch, stateless: keyed by the seed and the global step), projected by net_f (a 2-layer MLP
per layer, L2-normalised) and compared by :func:`monet.models.losses.patch_nce_loss`; lambda_NCE times the mean
over layers. CUT (lambda_NCE 1) adds the same term for (y, G(y)) and averages the two; FastCUT (lambda_NCE 10)
has no identity term but flips the generator's input horizontally with probability 0.5 per step and flips the
queries back (keys from the unflipped x). net_f is trained on gen_g's loss with its own Adam optimizer. All models
are updated from one forward pass (as :mod:`monet.gan.cyclegan` does; the CUT code updates the discriminator
first).

The class is a :class:`monet.gan.cyclegan.CycleGAN` for its machinery (optimizers, EMA of gen_g, float16 loss
scale, checkpoint state), the step is :func:`monet.gan.cyclegan.compiled_step` around :func:`cut_losses`, and
checkpoints are cyclegan's, with ``model`` and ``nce`` in their model args (:func:`load_model_checkpoint` rebuilds
either kind).
"""
from __future__ import annotations

import json
from pathlib import Path

from monet.data import augment
from monet.gan.cyclegan import CycleGAN, compiled_step, load_checkpoint
from monet.models import architecture, losses, networks

__all__ = ["CUT", "CUT_MODELS", "CUT_LOSS_KEYS", "model_class", "build_model", "load_model_checkpoint",
           "cut_losses", "nce_term", "patch_ids", "take_patches", "flip_width", "flip_coin", "make_cut_step"]

CUT_MODELS = ("cut", "fastcut")
CUT_LOSS_KEYS = ["gen_g_loss", "disc_y_loss", "nce_loss", "nce_idt_loss"]  # nce_idt_loss only with nce_idt
FLIP_SALT = 10  # the step's coin of flip equivariance
PATCH_SALT = 100  # + the NCE term (0: x, 1: y), then the layer: the patch positions


class CUT(CycleGAN):
    """gen_g, disc_y and net_f with their Adam optimizers (``args``: :func:`monet.models.architecture.model_args`
    of a cut or fastcut section), and ``encoder``: the model sharing gen_g's layers that returns the NCE layers'
    features. ``ema`` averages gen_g as for the CycleGAN; ``pool_size`` must be 0 (CUT has no image pool)."""

    def __init__(self, args: dict, learning_rate, beta_1: float = 0.5, strategy=None, loss_scale: bool = False,
                 ema: float = 0.0, pool_size: int = 0, image_shape=(256, 256, 3)):
        if args.get("model") not in CUT_MODELS:
            raise ValueError(f"CUT needs model_args of model cut or fastcut, got {args.get('model', 'cyclegan')!r}")
        if pool_size:
            raise ValueError(f"cyclegan.pool_size must be 0 for cyclegan.model {args['model']} (CUT has no image "
                             f"pool), got {pool_size}")
        super().__init__(args, learning_rate, beta_1, strategy, loss_scale, ema, 0, image_shape)

    @property
    def kind(self) -> str:
        return self.args["model"]

    @property
    def loss_keys(self) -> list[str]:
        return CUT_LOSS_KEYS if self.args["nce"]["idt"] else CUT_LOSS_KEYS[:3]

    def build_models(self, args: dict) -> dict:
        nce = args["nce"]
        gen = networks.generator(**args["generator"], name="gen_g")
        self.encoder = networks.nce_encoder(gen, args["generator"], nce["layers"])
        channels = [architecture.nce_layers(args["generator"])[i][1] for i in nce["layers"]]
        return {"gen_g": gen, "disc_y": networks.patch_discriminator(**args["discriminator"], name="disc_y"),
                "net_f": networks.projection_mlp(channels, nce["units"], name="net_f")}


def model_class(args: dict) -> type:
    """:class:`CUT` for model args of cut or fastcut, else :class:`monet.gan.cyclegan.CycleGAN`."""
    return CUT if args.get("model", "cyclegan") in CUT_MODELS else CycleGAN


def build_model(args: dict, learning_rate, beta_1: float = 0.5, strategy=None, loss_scale: bool = False,
                **options) -> CycleGAN:
    """A new CycleGAN or CUT from its model args (``options``: ema, pool_size, image_shape)."""
    return model_class(args)(args, learning_rate, beta_1, strategy, loss_scale, **options)


def load_model_checkpoint(folder: str | Path, learning_rate=2e-4, beta_1: float = 0.5, strategy=None,
                          loss_scale: bool = False, **options) -> tuple[CycleGAN, dict]:
    """:func:`monet.gan.cyclegan.load_checkpoint` with the class that the checkpoint's model args name."""
    meta = json.loads((Path(folder) / "checkpoint.json").read_text())
    return load_checkpoint(folder, learning_rate, beta_1, strategy, loss_scale,
                           model_class=model_class(meta["model_args"]), **options)


# ------------------------------------------------------------------------------------------------ losses
def flip_width(images, flip):
    """``images`` (B, H, W, C) mirrored left-right where ``flip`` (a scalar bool tensor) is true; None: as they
    are."""
    import tensorflow as tf

    return images if flip is None else tf.where(flip, tf.reverse(images, axis=[2]), images)


def flip_coin(key):
    """FastCUT's coin of a step: true (flip) with probability 0.5, drawn from the step's ``key(salt)``."""
    import tensorflow as tf

    return tf.random.stateless_uniform([], seed=key(FLIP_SALT)) < 0.5


def patch_ids(features, num_patches: int, seed):
    """min(num_patches, H * W) positions of the flattened H x W grid of ``features`` (B, H, W, C), drawn
    uniformly without replacement from the stateless ``seed`` (an int pair): the same for every image."""
    import tensorflow as tf

    h, w = features.shape[1], features.shape[2]
    if h is None or w is None:  # unknown until run: a dynamic size
        positions = tf.shape(features)[1] * tf.shape(features)[2]
        count = tf.minimum(num_patches, positions)
    else:  # known when traced (the train step's batches): static shapes, as XLA likes them
        positions = h * w
        count = min(num_patches, positions)
    order = tf.argsort(tf.random.stateless_uniform([positions], seed=seed))
    return order[:count]


def take_patches(features, ids):
    """The feature vectors at flattened positions ``ids`` of ``features`` (B, H, W, C): (B, len(ids), C),
    float32."""
    import tensorflow as tf

    shape = tf.shape(features)
    flat = tf.reshape(features, [shape[0], shape[1] * shape[2], shape[3]])
    return tf.cast(tf.gather(flat, ids, axis=1), tf.float32)


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def nce_term(m: CUT, source, target, key, term: int, flip=None):
    """lambda_NCE x the mean over the NCE layers of PatchNCE between the encoder's features of ``target`` (the
    queries; flipped back along the width where ``flip``) and of ``source`` (the keys), at the same positions per
    layer (drawn from ``key``; ``term`` 0 or 1 keeps the two terms' draws apart), both through net_f."""
    nce = m.args["nce"]
    feats_k = _as_list(m.encoder(source, training=True))
    feats_q = [flip_width(f, flip) for f in _as_list(m.encoder(target, training=True))]
    ids = [patch_ids(f, nce["patches"], augment.sub_key(key(PATCH_SALT + term), i)) for i, f in enumerate(feats_k)]
    proj_k = _as_list(m.net_f([take_patches(f, i) for f, i in zip(feats_k, ids)]))
    proj_q = _as_list(m.net_f([take_patches(f, i) for f, i in zip(feats_q, ids)]))
    per_layer = [losses.patch_nce_loss(q, k, nce["temperature"]) for q, k in zip(proj_q, proj_k)]
    return nce["lambda"] * sum(per_layer) / len(per_layer)


def cut_losses(m: CUT, real_x, real_y, key, T, adversarial: str = "lsgan", label_smoothing: float = 0.0,
               flip=None) -> dict:
    """The losses of a batch: ``gen_g_loss`` = adversarial + NCE (CUT: the mean of ``nce_loss`` for (x, G(x)) and
    ``nce_idt_loss`` for (y, G(y)); without nce_idt: ``nce_loss``), ``disc_y_loss``, each NCE term already times
    lambda_NCE. ``T(images, salt)`` is DiffAugment before every discriminator call, ``key(salt)`` the step's
    draws; ``flip`` (a scalar bool tensor, or None) mirrors the generator's inputs and the queries back."""
    G, DY = m.gen_g, m.disc_y
    fake_y = G(flip_width(real_x, flip), training=True)
    d_fake, d_real = DY(T(fake_y, 0), training=True), DY(T(real_y, 1), training=True)
    out = {"nce_loss": nce_term(m, real_x, fake_y, key, 0, flip)}
    nce = out["nce_loss"]
    if m.args["nce"]["idt"]:
        same_y = G(flip_width(real_y, flip), training=True)
        out["nce_idt_loss"] = nce_term(m, real_y, same_y, key, 1, flip)
        nce = 0.5 * (out["nce_loss"] + out["nce_idt_loss"])
    return {"gen_g_loss": losses.generator_loss(d_fake, adversarial) + nce,
            "disc_y_loss": losses.discriminator_loss(d_real, d_fake, adversarial, label_smoothing), **out}


def make_cut_step(m: CUT, adversarial: str = "lsgan", jit_compile: bool = False, diffaugment=(),
                  label_smoothing: float = 0.0, seed: int = 0):
    """A compiled step ``(real_x, real_y, step) -> dict of scalar losses and lr`` that updates gen_g and net_f
    (both on gen_g_loss) and disc_y. ``step`` keys the patch positions, FastCUT's flip (a coin per step) and
    DiffAugment, so they resume exactly; see :func:`monet.gan.cyclegan.compiled_step` for several replicas."""
    flips = m.args["nce"]["flip"]

    def losses_of(real_x, real_y, key, T):
        flip = flip_coin(key) if flips else None
        return cut_losses(m, real_x, real_y, key, T, adversarial, label_smoothing, flip)

    targets = {"gen_g": "gen_g_loss", "net_f": "gen_g_loss", "disc_y": "disc_y_loss"}
    return compiled_step(m, losses_of, targets, jit_compile, diffaugment, seed, draws=True)
