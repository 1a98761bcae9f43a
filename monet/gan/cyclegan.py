"""The CycleGAN: its four models and optimizers, the compiled train step, and checkpoints that rebuild them.

Names follow the paper (Zhu et al. 2017): X = photos, Y = Monet paintings;
``gen_g``: X -> Y (photo to Monet, the generator we submit), ``gen_f``: Y -> X,
``disc_x`` judges photos, ``disc_y`` judges paintings; ``lambda_cycle``, ``lambda_identity``.

A checkpoint (``<run>/cyclegan/checkpoints/epoch_NNNN[_step_SSSSSS]/``) holds the four models' weights, the
optimizers' state (with the EMA weights), the image pools and dropout seed states, and ``checkpoint.json`` with the
arguments that rebuild the models. The training loop is :mod:`monet.gan.training`.

CUT and FastCUT (:mod:`monet.gan.cut`) reuse this machinery: :class:`CycleGAN`'s optimizers, EMA, loss scale and
checkpoint state over whatever models :meth:`CycleGAN.build_models` returns, :func:`compiled_step` around their
losses, and the checkpoint functions (``load_checkpoint``'s ``model_class`` says which class to rebuild).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from monet.core import files
from monet.data import augment
from monet.gan.image_pool import ImagePool
from monet.models import architecture, losses, networks

__all__ = ["CycleGAN", "cyclegan_losses", "STEP_KEYS", "make_train_step", "compiled_step", "step_keys",
           "save_checkpoint", "load_checkpoint", "latest_checkpoint", "list_checkpoints", "prune_checkpoints",
           "spread_out", "remove_unfinished", "checkpoint_name", "packaged_generator", "agreed_overflow", "LOSS_KEYS"]

LOSS_KEYS = ["gen_g_loss", "gen_f_loss", "disc_x_loss", "disc_y_loss", "cycle_loss", "identity_loss"]
STEP_KEYS = [*LOSS_KEYS, "lr"]  # what the train step returns: the losses and the learning rate it applied
MODEL_NAMES = ("gen_g", "gen_f", "disc_x", "disc_y")
# Keys that may change between a run and its resume without invalidating its checkpoints.
# (The strategy may change too: a checkpoint resumes under another one with the same global batch.)
LOSS_SCALE = "loss_scale"
RESUMABLE_KEYS = ("epochs", "keep_checkpoints", "sample_images", "resume", "jit_compile", "strategy",
                  "score_checkpoints", "spread_checkpoints", "score_photos", "score_weights", "score_by")


class CycleGAN:
    """The four models and their four Adam optimizers (built eagerly so their state can be restored), created in
    ``strategy``'s scope (default: the current one). ``loss_scale`` wraps the optimizers for float16.
    ``kind`` and ``loss_keys`` name the model and the losses its step returns (besides ``lr``); a subclass
    (:class:`monet.gan.cut.CUT`) overrides :meth:`build_models` and those two.

    ``learning_rate`` is a float or a schedule (:mod:`monet.gan.schedules`); ``ema`` > 0 keeps an exponential moving
    average of gen_g's weights in its optimizer (saved with it); ``pool_size`` > 0 adds the paper's image pools
    for images of ``image_shape``.
    """

    def __init__(self, args: dict, learning_rate, beta_1: float = 0.5, strategy=None, loss_scale: bool = False,
                 ema: float = 0.0, pool_size: int = 0, image_shape=(256, 256, 3)):
        import keras
        import tensorflow as tf

        self.args = args
        self.strategy = strategy or tf.distribute.get_strategy()
        self.learning_rate = learning_rate
        self.ema = ema
        with self.strategy.scope():
            if hasattr(learning_rate, "build"):  # a schedule's variables (the global step it reads) live here too
                learning_rate.build()
            self.models = self.build_models(args)
            self.optimizers = {}
            for name, model in self.models.items():
                averaged = {"use_ema": True, "ema_momentum": ema} if ema and name == "gen_g" else {}
                opt = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, name=f"adam_{name}",
                                            **averaged)
                if loss_scale:
                    opt = keras.optimizers.LossScaleOptimizer(opt, name=f"loss_scale_{name}")
                opt.build(model.trainable_variables)
                self.optimizers[name] = opt
        self.pools = {}
        if pool_size:
            if self.strategy.num_replicas_in_sync > 1:
                raise ValueError(f"cyclegan.pool_size needs one replica; this strategy has "
                                 f"{self.strategy.num_replicas_in_sync} (set pool_size: 0 or strategy: default)")
            self.pools = {"x": ImagePool(pool_size, image_shape), "y": ImagePool(pool_size, image_shape)}

    kind = "cyclegan"
    loss_keys = LOSS_KEYS

    def build_models(self, args: dict) -> dict:
        """The models by name, built from their factory arguments (in the strategy's scope)."""
        if args.get("model", "cyclegan") != "cyclegan":
            raise ValueError(f"model_args of a {args['model']!r} model: build it with monet.gan.cut.CUT (or "
                             "monet.gan.cut.load_model_checkpoint)")
        return {
            "gen_g": networks.generator(**args["generator"], name="gen_g"),
            "gen_f": networks.generator(**args["generator"], name="gen_f"),
            "disc_x": networks.patch_discriminator(**args["discriminator"], name="disc_x"),
            "disc_y": networks.patch_discriminator(**args["discriminator"], name="disc_y"),
        }

    def __getattr__(self, name):
        models = self.__dict__.get("models", {})
        if name in models:
            return models[name]
        raise AttributeError(name)

    @property
    def receptive_field(self) -> int:
        return architecture.receptive_field(architecture.discriminator_layers(**self.args["discriminator"]))

    def state_variables(self) -> dict:
        """Every variable besides the models' weights that a checkpoint must keep: optimizers (with the EMA
        weights), image pools, and the models' non-trainable variables (the U-Net's dropout seed states, which
        Keras's weight files leave out)."""
        # Keyed by position (Keras numbers layer names per process); the learning rate is a param, or a schedule
        # of the step, not state. The Adam state (the inner optimizer's under float16) is keyed apart from the
        # loss scale's own variables, so a checkpoint resumes under another precision policy: the Adam state is
        # carried over, a loss scale that the checkpoint lacks starts afresh, one that the run does not use is left.
        out = {}
        for name, opt in self.optimizers.items():
            inner = getattr(opt, "inner_optimizer", opt)
            kept = [u for u in inner.variables if not u.path.endswith("/learning_rate")]
            out.update({f"{name}/{i}": v for i, v in enumerate(kept)})
            own = [u for u in opt.variables if not any(u is w for w in inner.variables)]
            out.update({f"{name}/{LOSS_SCALE}/{i}": v for i, v in
                        enumerate(u for u in own if not u.path.endswith("/learning_rate"))})
        out.update({f"{name}/state/{i}": v for name, model in self.models.items()
                    for i, v in enumerate(model.non_trainable_variables)})
        out.update({f"pool_{d}/{i}": v for d, pool in self.pools.items() for i, v in enumerate(pool.variables)})
        return out


def packaged_generator(m: CycleGAN):
    """The generator to submit: gen_g, or with ``ema`` a copy of it holding the averaged weights; always float32
    (a copy when training ran under mixed precision), so packaging runs on any device: a generator trained in
    bfloat16 on a TPU is packaged in a kernel without one."""
    import keras

    float32 = keras.mixed_precision.global_policy().name == "float32"
    if not m.ema and float32:
        return m.gen_g
    current = m.gen_g.get_weights()
    if m.ema:
        opt = m.optimizers["gen_g"]
        opt = getattr(opt, "inner_optimizer", opt)
        opt.finalize_variable_values(m.gen_g.trainable_variables)  # Keras's own way: the averages into gen_g...
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        packaged = networks.generator(**m.args["generator"], name="gen_g")
    finally:
        keras.mixed_precision.set_global_policy(policy)
    packaged.set_weights(m.gen_g.get_weights())  # ...copied out...
    m.gen_g.set_weights(current)  # ...and gen_g trains on from its own weights
    return packaged


def cyclegan_losses(m: CycleGAN, real_x, real_y, key, T, adversarial: str, lambda_cycle: float,
                    lambda_identity: float, label_smoothing: float) -> dict:
    """The four models' losses on a batch (and the cycle and identity terms, as ``cycle_loss`` and
    ``identity_loss``): ``T(images, salt)`` is DiffAugment before every discriminator call, ``key(salt)`` a
    stream of draws (for the image pools)."""
    G, F, DX, DY = m.gen_g, m.gen_f, m.disc_x, m.disc_y
    fake_y = G(real_x, training=True)
    cycled_x = F(fake_y, training=True)
    fake_x = F(real_y, training=True)
    cycled_y = G(fake_x, training=True)
    same_y = G(real_y, training=True)  # identity: a painting should pass through G unchanged
    same_x = F(real_x, training=True)
    d_fake_x, d_fake_y = DX(T(fake_x, 0), training=True), DY(T(fake_y, 1), training=True)
    d_real_x, d_real_y = DX(T(real_x, 2), training=True), DY(T(real_y, 3), training=True)
    if m.pools:  # the discriminators judge fakes drawn from the history
        d_pool_x = DX(T(m.pools["x"].query(fake_x, key(4)), 5), training=True)
        d_pool_y = DY(T(m.pools["y"].query(fake_y, key(6)), 7), training=True)
    else:
        d_pool_x, d_pool_y = d_fake_x, d_fake_y
    cycle = losses.cycle_loss(real_x, cycled_x) + losses.cycle_loss(real_y, cycled_y)
    id_g, id_f = losses.identity_loss(real_y, same_y), losses.identity_loss(real_x, same_x)
    w_identity = lambda_cycle * lambda_identity
    return {
        "gen_g_loss": losses.generator_loss(d_fake_y, adversarial) + lambda_cycle * cycle + w_identity * id_g,
        "gen_f_loss": losses.generator_loss(d_fake_x, adversarial) + lambda_cycle * cycle + w_identity * id_f,
        "disc_x_loss": losses.discriminator_loss(d_real_x, d_pool_x, adversarial, label_smoothing),
        "disc_y_loss": losses.discriminator_loss(d_real_y, d_pool_y, adversarial, label_smoothing),
        "cycle_loss": cycle, "identity_loss": id_g + id_f,
    }


def step_keys(m: CycleGAN, seed: int, step):
    """``key(salt)``: one independent stream of stateless draws per use (salt), replica and global step."""
    import tensorflow as tf

    replicas = m.strategy.num_replicas_in_sync
    replica = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int64) if replicas > 1 else 0
    base = augment.sub_key(tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)]), replica)
    return lambda salt: augment.sub_key(base, salt)


def make_train_step(m: CycleGAN, adversarial: str = "lsgan", lambda_cycle: float = 10.0,
                    lambda_identity: float = 0.5, jit_compile: bool = False, diffaugment=(),
                    label_smoothing: float = 0.0, seed: int = 0):
    """A compiled step ``(real_x, real_y, step) -> dict of scalar losses`` that updates all four models.

    ``step`` (an int64 scalar tensor, the global step) keys the random draws of DiffAugment and the image pools,
    so they are reproducible and resume exactly. ``diffaugment`` (a policy, see :mod:`monet.data.augment`) transforms
    real and generated images alike before every discriminator call, in the generators' losses too;
    ``label_smoothing`` lowers the discriminators' target for real images; ``m.pools`` (if any) feed the
    discriminators a history of fakes (the generators are judged on the current ones). See :func:`compiled_step`
    for several replicas.
    """
    def losses_of(real_x, real_y, key, T):
        return cyclegan_losses(m, real_x, real_y, key, T, adversarial, lambda_cycle, lambda_identity,
                               label_smoothing)

    return compiled_step(m, losses_of, {name: f"{name}_loss" for name in MODEL_NAMES}, jit_compile, diffaugment,
                         seed, draws=bool(m.pools))


def compiled_step(m: CycleGAN, losses_of, targets: dict, jit_compile: bool = False, diffaugment=(), seed: int = 0,
                  draws: bool = False):
    """A compiled step ``(real_x, real_y, step) -> dict of scalar losses and lr`` that updates every model of
    ``m``: ``losses_of(real_x, real_y, key, T)`` returns the losses of a batch (``T(images, salt)``: DiffAugment of
    ``diffaugment``, the identity when off; ``key(salt)``: a stream of stateless draws of this replica and global
    step, None unless ``draws`` or DiffAugment needs it), and ``targets`` names the loss each model's optimizer
    minimizes (model name -> loss key).

    Under a strategy of several replicas each replica runs the step on its share of the global batch with its
    losses divided by the number of replicas; the optimizers sum the replicas' gradients, so the update equals
    one on the whole global batch, and the returned losses (summed over replicas) are global means.
    """
    import keras
    import tensorflow as tf

    replicas, policy = m.strategy.num_replicas_in_sync, tuple(diffaugment)
    schedule = m.learning_rate if hasattr(m.learning_rate, "replan") else None  # read at the global step

    def per_replica(loss):
        return loss if replicas == 1 else loss / replicas

    def scaled(name, loss):  # float16: dynamic loss scaling; apply_gradients unscales
        opt = m.optimizers[name]
        return opt.scale_loss(loss) if isinstance(opt, keras.optimizers.LossScaleOptimizer) else loss

    def replica_step(real_x, real_y, step=0):
        key = step_keys(m, seed, step) if policy or draws else None  # no key arithmetic when nothing draws

        def T(images, salt):  # DiffAugment (the identity when off)
            return augment.diff_augment(images, policy, key(salt)) if policy else images

        with tf.GradientTape(persistent=True) as tape:
            out = losses_of(real_x, real_y, key, T)
            # Inside the tape: the replica share and the float16 loss scale must be recorded to be differentiated.
            scaled_targets = {name: scaled(name, per_replica(out[loss])) for name, loss in targets.items()}
        grads = {name: tape.gradient(scaled_targets[name], m.models[name].trainable_variables) for name in targets}
        del tape
        grads = agreed_overflow(m, grads)
        for name in targets:
            m.optimizers[name].apply_gradients(list(zip(grads[name], m.models[name].trainable_variables)))
        return {k: per_replica(v) for k, v in out.items()}

    one_device = replicas == 1 and not isinstance(m.strategy, tf.distribute.TPUStrategy)

    def step_fn(real_x, real_y, step=0):
        if schedule is not None:
            schedule.step.assign(tf.cast(step, tf.float32))
        rate = tf.cast(m.optimizers["gen_g"].learning_rate, tf.float32)  # what this step applies
        if one_device:
            return {**replica_step(real_x, real_y, step), "lr": rate}
        results = m.strategy.run(replica_step, args=(real_x, real_y, step))
        return {**{k: m.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in results.items()},
                "lr": rate}

    # XLA compiles the one-device step; several replicas run uncompiled (a TPU compiles by itself), and the
    # training log says so when jit_compile asked for it.
    return tf.function(step_fn, jit_compile=jit_compile and one_device)


def agreed_overflow(m: CycleGAN, grads: dict) -> dict:
    """Every replica's gradients made non-finite where any replica's are (per optimizer), so that float16's loss
    scaling skips the step and lowers the scale on all of them. Keras's LossScaleOptimizer decides from the
    gradients it is handed before the replicas' sum (replica 0's, off XLA): an overflow on replica 1 alone would
    otherwise be summed into the weights as NaN. One all-reduce of a few counts a step; nothing when one replica or
    no loss scaling."""
    import keras
    import tensorflow as tf

    names = [n for n in grads if isinstance(m.optimizers[n], keras.optimizers.LossScaleOptimizer)]
    if m.strategy.num_replicas_in_sync == 1 or not names:
        return grads
    bad = tf.stack([tf.add_n([tf.reduce_sum(tf.cast(~tf.math.is_finite(g), tf.float32)) for g in grads[n]
                              if g is not None] or [tf.constant(0.0)]) for n in names])
    bad = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, bad)
    out = dict(grads)
    for i, name in enumerate(names):
        poison = tf.where(bad[i] > 0, float("nan"), 0.0)  # adding 0.0 leaves a finite gradient as it is
        out[name] = [None if g is None else g + tf.cast(poison, g.dtype) for g in grads[name]]
    return out


# ---------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(m: CycleGAN, folder: str | Path, meta: dict) -> Path:
    """Write weights, optimizer and pool state and ``checkpoint.json`` (meta + model args) atomically to
    ``folder`` (a killed run leaves the previous checkpoint, never half of this one)."""
    with files.atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        for name, model in m.models.items():
            model.save_weights(str(tmp / f"{name}.weights.h5"))
        np.savez(tmp / "optimizers.npz", **{k: np.asarray(v.numpy()) for k, v in m.state_variables().items()})
        (tmp / "checkpoint.json").write_text(json.dumps({**meta, "model_args": m.args}, indent=1))
    return Path(folder)


def load_checkpoint(folder: str | Path, learning_rate=2e-4, beta_1: float = 0.5, strategy=None,
                    loss_scale: bool = False, model_class=None, **options) -> tuple[CycleGAN, dict]:
    """Rebuild the models from a checkpoint's stored arguments (under any strategy) and restore weights,
    optimizer state (EMA included) and image pools; ``model_class`` (default :class:`CycleGAN`) is the class that
    rebuilds them (:func:`monet.gan.cut.load_model_checkpoint` picks it from the checkpoint); ``options`` are its
    (ema, pool_size, ...)."""
    folder = Path(folder)
    meta = json.loads((folder / "checkpoint.json").read_text())
    m = (model_class or CycleGAN)(meta["model_args"], learning_rate, beta_1, strategy, loss_scale, **options)
    for name, model in m.models.items():
        model.load_weights(str(folder / f"{name}.weights.h5"))
    with np.load(folder / "optimizers.npz") as arrays:
        for key, v in m.state_variables().items():
            if key not in arrays:
                if f"/{LOSS_SCALE}/" in key:  # written under float32: the loss scale starts afresh
                    continue
                raise ValueError(f"{folder}: the checkpoint has no {key}; it was written with other training "
                                 "options (ema, pool_size)")
            v.assign(arrays[key])
    return m, meta


def list_checkpoints(root: str | Path) -> list[tuple[int, Path]]:
    """(global step, folder) of every complete checkpoint under ``root``, oldest first."""
    found = []
    for p in Path(root).glob("epoch_*"):
        if files.PARTIAL in p.name or not (p / "checkpoint.json").is_file():
            continue
        meta = json.loads((p / "checkpoint.json").read_text())
        found.append((meta.get("global_step", meta.get("epoch", 0) * meta.get("steps_per_epoch", 1)), p))
    return sorted(found)


def latest_checkpoint(root: str | Path) -> Path | None:
    """The complete checkpoint with the most steps under ``root`` (partial ones are ignored)."""
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def spread_out(found: list[tuple[int, Path]], n: int) -> list[tuple[int, Path]]:
    """The ``n`` of ``found`` ((global step, folder)) that cover the run at about even steps, oldest first (0: all).

    Checkpoint by checkpoint, as pruning meets them, while more than ``n`` are held the one whose neighbours lie
    closest together goes (the run's start is the first one's older neighbour; the newest always stays). So
    pruning after every checkpoint and one pass over all of them keep the same ones. For n >= 3 the widest gap
    stays within about 1.5 even steps; with 2 the older one sticks near the start, 1 keeps the newest (validation
    refuses both)."""
    if n <= 0:
        return sorted(found)
    kept: list[tuple[int, Path]] = []
    for item in sorted(found):
        kept.append(item)
        if len(kept) > n:
            steps = [0] + [step for step, _ in kept]
            del kept[min(range(len(kept) - 1), key=lambda i: steps[i + 2] - steps[i])]
    return kept


def prune_checkpoints(root: Path, keep: int, spread: bool = False) -> None:
    """Remove all but ``keep`` complete checkpoints (0 keeps all): the newest, or with ``spread`` those that
    :func:`spread_out` keeps."""
    if keep <= 0:
        return
    found = list_checkpoints(root)
    kept = {folder for _, folder in (spread_out(found, keep) if spread else found[-keep:])}
    for _, old in found:
        if old not in kept:
            shutil.rmtree(old, ignore_errors=True)


def remove_unfinished(root: Path) -> list[str]:
    """Remove what a killed run left half-written under ``root``: ``*.partial`` checkpoint folders (a kill during
    a write) and ``.probe-*`` folders (a kill while the budget timed a checkpoint). Returns their names."""
    gone = []
    for p in [*Path(root).glob(f"*{files.PARTIAL}*"), *Path(root).glob(".probe-*")]:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        gone.append(p.name)
    return gone


def checkpoint_name(epoch: int, step_in_epoch: int) -> str:
    """``epoch_0003`` after 3 full epochs; ``epoch_0003_step_000017`` after 17 steps of the 4th (a budget stop)."""
    return f"epoch_{epoch:04d}" + (f"_step_{step_in_epoch:06d}" if step_in_epoch else "")
