"""The one parameter schema: every key with its type, default, allowed values and meaning, and the stages.

A params file is a small YAML mapping. Top-level keys apply to the whole run; each stage reads its own section
(``fetch``, ``cyclegan``, ``nst``, ``package``, ``evaluate``; ``kaggle`` is for the kernel bundle). Loading and
validation against this schema are :mod:`monet.core.params`; ``docs/parameters.md`` is :func:`describe_schema`'s table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Key", "Stage", "STAGES", "STAGE_NAMES", "TOP", "SECTIONS", "SCHEMA", "VGG19_LAYERS", "describe_schema",
           "DECAY_FROM", "decay_from"]


@dataclass(frozen=True)
class Key:
    """One parameter.

    kind: ``int``, ``float``, ``bool``, ``str``, ``list[str]``, ``int|list[int]`` or ``int|auto`` (an int, or the
    string 'auto' for a value the run works out itself).
    optional: ``null`` (Python ``None``) is allowed. choices / minimum / maximum constrain values.
    """
    kind: str
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    optional: bool = False
    exclusive_maximum: bool = False

    def describe(self) -> str:
        text = self.kind.replace("|", " or ") + (" or null" if self.optional else "")
        if self.choices:
            text += " one of " + ", ".join(map(str, self.choices))
        if self.minimum is not None and self.maximum is not None:
            text += f" in [{self.minimum}, {self.maximum}{')' if self.exclusive_maximum else ']'}"
        elif self.minimum is not None:
            text += f" >= {self.minimum}"
        return text


@dataclass(frozen=True)
class Stage:
    """A stage of the chain: its notebook, its schema section and the top-level keys it reads."""
    name: str
    notebook: str
    section: str
    top_keys: tuple[str, ...]


# Chain order. A params file's ``stages`` lists a subset, in this order.
STAGES: tuple[Stage, ...] = (
    Stage("fetch", "01_fetch.ipynb", "fetch", ("data_dir", "seed")),
    Stage("cyclegan_train", "02_cyclegan_train.ipynb", "cyclegan", ("seed", "deterministic")),
    Stage("nst_generate", "03_nst_generate.ipynb", "nst", ("seed", "deterministic")),
    Stage("package_submission", "04_package_submission.ipynb", "package", ("deterministic",)),
    Stage("evaluate", "05_evaluate.ipynb", "evaluate", ()),
)
STAGE_NAMES = tuple(s.name for s in STAGES)

TOP: dict[str, Key] = {
    "description": Key("str", "", "One line: which experiment this is and why it differs."),
    "data_dir": Key(
        "str", "auto",
        "Competition data: a folder with monet_jpg/ and photo_jpg/ (relative paths are from the repository root; "
        "one that does not exist yet is downloaded into), 'kaggle' (download once into data/gan-getting-started), "
        "'synthetic' (generated offline), or 'auto' (Kaggle's mount, else a complete earlier download, else an "
        "error)."),
    "stages": Key("list[str]", ["fetch", "cyclegan_train", "package_submission"], "Stages to run, in chain order.",
                  choices=STAGE_NAMES),
    "seed": Key("int", 42, "Seeds Python, NumPy, TensorFlow, data order and augmentation.", minimum=0),
    "time_budget_minutes": Key(
        "int", None, "Wall-clock budget of a run; training and painting stop early to leave time for a valid "
        "images.zip. null: 270 on Kaggle (of its 300), none elsewhere.", minimum=1, optional=True),
    "deterministic": Key(
        "bool", False,
        "TensorFlow op determinism and fixed zip timestamps: identical params give a byte-identical images.zip "
        "(slower)."),
}

SECTIONS: dict[str, dict[str, Key]] = {
    "kaggle": {
        "accelerator": Key("str", "gpu", "The accelerator of the pushed Kaggle kernel.", choices=("gpu", "tpu", "none")),
        "machine_shape": Key("str", "auto", "Kaggle's machine (kernel-metadata's machine_shape): NvidiaTeslaT4 (two "
                             "T4s), NvidiaTeslaP100 (one P100), Tpu1VmV38 (TPU v3-8); 'auto': NvidiaTeslaT4 for a GPU, "
                             "Tpu1VmV38 for a TPU. cyclegan.batch_size 'auto' is pinned to what it gives there.",
                             choices=("auto", "NvidiaTeslaT4", "NvidiaTeslaP100", "Tpu1VmV38")),
        "dataset_sources": Key("list[str]", [], "Kaggle data sets attached to the kernel (OWNER/SLUG), e.g. the one "
                               "holding VGG19's weights."),
        "model_sources": Key("list[str]", [], "Kaggle models attached to the kernel (OWNER/MODEL/FRAMEWORK/VARIATION/"
                             "VERSION)."),
    },
    "fetch": {
        "synthetic_photos": Key("int", 7038, "Photos generated when data_dir is 'synthetic'.", minimum=1),
        "synthetic_monet": Key("int", 300, "Paintings generated when data_dir is 'synthetic'.", minimum=1),
        "sample_images": Key("int", 8, "Paintings and photos shown in data/samples.png.", minimum=1, maximum=32),
        "extra_monet": Key(
            "list[str]", [], "Folders of further Monet paintings added to the training paintings (what the issue "
            "calls data.extra_monet: the data params live in this section). Each a path (relative ones from the "
            "repository root, like data_dir) or kaggle:OWNER/SLUG[/SUBFOLDER], a Kaggle data set that the bundle "
            "attaches and the kernel reads from /kaggle/input. Images are checked and converted like the "
            "competition's (centre square crop, 256x256 RGB JPEG in the run folder); exact and near duplicates "
            "(mirrored ones too: training flips paintings) of the competition's paintings or of each other are "
            "dropped and counted."),
    },
    "cyclegan": {
        "epochs": Key("int|auto", 1, "Epochs to train; raising it on a finished run trains on from the last checkpoint. "
                      "'auto': as many steps as the time budget allows (measured on the first steps), leaving "
                      "time to write and check images.zip.", minimum=1),
        "batch_size": Key("int|auto", 1, "The global batch: images of each domain per step over all replicas (the "
                          "report: 1); a strategy splits it evenly. 'auto': 32 on a TPU (4 per core), 4 per GPU, "
                          "1 on a CPU.", minimum=1),
        "steps_per_epoch": Key(
            "int", None, "Steps per epoch; null = one pass over the photos (every photo once per epoch).",
            minimum=1, optional=True),
        "learning_rate": Key("float", 2e-4, "Adam learning rate of every optimizer (CycleGAN: four; CUT: three).",
                             minimum=0.0),
        "beta_1": Key("float", 0.5, "Adam beta_1 of every optimizer.", minimum=0.0, maximum=1.0),
        "lr_schedule": Key("str", "constant", "constant, or linear_decay: held for the first decay_from of the "
                           "run's steps, then linearly to 0 at its end.", choices=("constant", "linear_decay")),
        "identity_start": Key("bool", False, "Generators that start as the identity: the photo plus a tanh change "
                              "whose last conv starts at zero, clipped (so training cannot begin worse than the "
                              "photos)."),
        "decay_from": Key("float|auto", "auto", "Fraction of the run's steps after which linear_decay starts; "
                          "'auto': the paper's for the model (CycleGAN and CUT 0.5, FastCUT 0.75: its last quarter).",
                          minimum=0.0, maximum=1.0),
        "data_format": Key("str", "jpg", "Read training images from JPEG files or TFRecords.",
                           choices=("jpg", "tfrec")),
        "augment_photo": Key("list[str]", ["flip"], "Augmentation of the photos X: flip, jitter (resize to 286, "
                             "random 256 crop), rot90.", choices=("flip", "jitter", "rot90")),
        "augment_monet": Key("list[str]", ["flip"], "Augmentation of the paintings Y (300 of them: at least as "
                             "strong as the photos').", choices=("flip", "jitter", "rot90")),
        "train_size": Key("int", 256, "Train on random square crops of this side, taken after augmentation from "
                          "both domains; the generator still translates whole 256-px photos (it is fully "
                          "convolutional): cheaper steps. A multiple of 2**gen_down_blocks (ResNet) or 2**unet_depth "
                          "(U-Net) that leaves the innermost map 2x2 or more (U-Net at 128: unet_depth <= 6).",
                          minimum=16, maximum=256),
        "diffaugment": Key("list[str]", [], "DiffAugment policy before every discriminator call (Zhao et al. "
                           "2020), e.g. [color, translation, cutout]; []: off.",
                           choices=("color", "translation", "cutout")),
        "label_smoothing": Key("float", 0.0, "One-sided label smoothing: the discriminators' target for real "
                               "images is 1 - label_smoothing.", minimum=0.0, maximum=0.5),
        "pool_size": Key("int", 0, "Generated images kept in each discriminator's image pool (the paper: 50); "
                         "0: off. One replica only.", minimum=0),
        "ema": Key("float", 0.0, "Exponential moving average of gen_g's weights with this momentum (e.g. 0.999); "
                   "the averaged generator is the one packaged. Keras's average has no warm-up: it keeps "
                   "ema**steps of the first step's weights (0.999: 41% after 880 steps), so it needs runs of "
                   "thousands of steps. 0: off.", minimum=0.0, maximum=1.0,
                   exclusive_maximum=True),
        "generator": Key("str", "resnet", "Generator architecture: resnet (the report's) or unet (pix2pix, "
                         "Kaggle's tutorial).", choices=("resnet", "unet")),
        "gen_filters": Key("int", 64, "Filters of the generator's first conv (the report and the tutorial: 64).",
                           minimum=1),
        "gen_down_blocks": Key("int", 2, "Stride-2 down-sampling blocks (and as many up-sampling ones).",
                               minimum=0, maximum=5),
        "gen_res_blocks": Key("int", 9, "Residual blocks (the report: 9).", minimum=0),
        "unet_depth": Key("int", 8, "U-Net: stride-2 down blocks (8 takes 256 px to 1 px, the tutorial's).",
                          minimum=1, maximum=8),
        "unet_dropout": Key("float", 0.5, "U-Net: dropout in the first three up blocks.", minimum=0.0, maximum=1.0,
                            exclusive_maximum=True),
        "disc_blocks": Key("int", 4, "Conv blocks of the discriminator (default: the classic 70x70 PatchGAN).",
                           minimum=1, maximum=7),
        "disc_filters": Key("int", 64, "Filters of the first discriminator block, doubling per block (max 512).",
                            minimum=1),
        "disc_kernel": Key("int", 4, "Kernel size of the discriminator blocks.", minimum=1),
        "disc_strides": Key("int|list[int]", [2, 2, 2, 1], "Stride of every block, or one stride per block.",
                            minimum=1),
        "disc_activation": Key("str", "leaky_relu", "Activation of the discriminator blocks.",
                               choices=("relu", "leaky_relu")),
        "disc_norm": Key("str", "instance", "Normalization of blocks after the first.",
                         choices=("instance", "none")),
        "disc_out_kernel": Key("int", 4, "Kernel of the 1-filter output conv.", minimum=1),
        "disc_out_stride": Key("int", 1, "Stride of the output conv.", minimum=1),
        "disc_out_padding": Key("str", "valid", "Padding of the output conv.", choices=("valid", "same")),
        "adversarial_loss": Key("str", "lsgan", "Least squares (lsgan) or binary cross-entropy (bce).",
                                choices=("lsgan", "bce")),
        "lambda_cycle": Key("float", 10.0, "Weight of the cycle-consistency loss.", minimum=0.0),
        "lambda_identity": Key("float", 0.5, "Identity loss weight relative to lambda_cycle (as in the paper's code).",
                               minimum=0.0),
        "model": Key("str", "cyclegan", "cyclegan (four networks, cycle loss), or CUT / FastCUT (Park et al. 2020): "
                     "gen_g, disc_y and a projection net_f trained with PatchNCE; no cycle loss, no gen_f or disc_x "
                     "(lambda_cycle, lambda_identity unused; pool_size must be 0).",
                     choices=("cyclegan", "cut", "fastcut")),
        "lambda_nce": Key("float", None, "cut/fastcut: weight of the PatchNCE loss; null = the model's (cut 1, "
                          "fastcut 10).", minimum=0.0, optional=True),
        "nce_idt": Key("bool", None, "cut/fastcut: add the identity NCE term NCE(y, G(y)) and average the two; "
                       "null = the model's (cut on, fastcut off).", optional=True),
        "nce_layers": Key("int|list[int]", None, "cut/fastcut: positions in the generator's NCE layers (ResNet: "
                          "padded input, each down conv, each residual block; U-Net: input, each down conv); null = "
                          "the generator's default (ResNet 0, 1, 2, res blocks 1 and 5; U-Net the input and 4 down "
                          "convs). --dry-run lists them.", minimum=0, optional=True),
        "nce_t": Key("float", 0.07, "cut/fastcut: temperature of PatchNCE's logits.", minimum=0.001),
        "num_patches": Key("int", 256, "cut/fastcut: positions sampled per NCE layer and step (all when fewer).",
                           minimum=1),
        "netf_units": Key("int", 256, "cut/fastcut: units of net_f's two Dense layers per NCE layer.", minimum=1),
        "flip_equivariance": Key("bool", None, "cut/fastcut: with probability 0.5 a step flips the generator's input "
                                 "and the queries' features back; null = the model's (fastcut on, cut off).",
                                 optional=True),
        "jit_compile": Key("bool", False, "Compile the train step with XLA (helps on GPU/TPU)."),
        "strategy": Key("str", "auto", "tf.distribute strategy: auto (TPU, else several GPUs, else TF_CONFIG's "
                        "workers, else the default), or one by name.",
                        choices=("auto", "default", "mirrored", "multi_worker", "tpu")),
        "mixed_precision": Key("str", "auto", "auto: mixed_bfloat16 on TPU, mixed_float16 on GPU, off on CPU.",
                               choices=("auto", "off", "mixed_float16", "mixed_bfloat16")),
        "keep_checkpoints": Key("int", 2, "Epoch checkpoints kept (oldest removed first, or see spread_checkpoints); "
                                "0 keeps all.", minimum=0),
        "score_checkpoints": Key("int", 0, "Score the last N checkpoints (or spread_checkpoints') by local MiFID at "
                                 "the end of training and package the best (cyclegan/checkpoint_scores.csv); 0: "
                                 "package the last weights.", minimum=0),
        "spread_checkpoints": Key("bool", False, "Keep (keep_checkpoints) and score (score_checkpoints) checkpoints "
                                  "spread over the whole run at about even steps, not the newest: selection then also "
                                  "sees the middle of a run whose generator drifts late."),
        "score_photos": Key("int", 1000, "Photos translated to score each checkpoint (as packaged: through the "
                            "package's filters and JPEG).", minimum=2),
        "score_by": Key("str", "mifid", "What ranks the scored checkpoints: local MiFID on score_weights' network, "
                        "or the judge that needs no downloaded weights (kid: KID on random CNN features, seconds; "
                        "c2st: C2ST accuracy, about a minute a checkpoint); all are recorded.",
                        choices=("mifid", "kid", "c2st")),
        "score_weights": Key("str", "auto", "The scoring network: 'kaggle' (Kaggle's own network, converted once by "
                             "`python -m monet weights kaggle`; Kaggle's scale), 'auto' ('kaggle' where converted, else "
                             "'imagenet'), a converted .npz or classify_image_graph_def.pb path (Kaggle's scale), "
                             "'imagenet' or a Keras InceptionV3 weights file (not Kaggle's scale), or 'none' (random: "
                             "machinery only)."),
        "sample_images": Key("int", 4, "Photos translated into cyclegan/samples/epoch_NN.png after each epoch.",
                             minimum=1, maximum=16),
        "resume": Key("bool", True, "Resume from this run's last checkpoint when its training params match."),
        "restart_from": Key(
            "str", None, "Start from another run's best checkpoint, with this run's (lower) learning_rate and its "
            "own schedule: a run folder (the checkpoint its checkpoint scoring packaged, cyclegan/summary.json's "
            "chosen_checkpoint) or a checkpoint folder. Weights and Adam's state are loaded, the networks are the "
            "checkpoint's; steps and plan start afresh. Recorded in summary.json and run.json. null: off.",
            optional=True),
    },
    "nst": {
        "vgg_weights": Key("str", "imagenet",
                           "VGG19 weights: 'imagenet' (Keras download and cache), a weights file path (Kaggle without "
                           "internet), or 'none' (random: tests and the offline demo, not a real style transfer)."),
        "style_layers": Key("list[str]", [f"block{i}_conv1" for i in range(1, 6)], "VGG19 layers of the style loss."),
        "content_layer": Key("str", "block5_conv2", "VGG19 layer of the content loss."),
        "style_weight": Key("float", 1e-6, "Weight of the style loss (averaged over the style layers).", minimum=0.0),
        "content_weight": Key("float", 2.5e-8, "Weight of the content loss.", minimum=0.0),
        "tv_weight": Key("float", 1e-6, "Weight of the total-variation loss.", minimum=0.0),
        "optimizer": Key("str", "sgd", "SGD with an exponentially decaying learning rate, or Adam.",
                         choices=("sgd", "adam")),
        "learning_rate": Key("float", 100.0, "Initial learning rate (pixels are in 0-255 units).", minimum=0.0),
        "decay_steps": Key("int", 100, "Learning rate x decay_rate every decay_steps iterations (smoothly).",
                           minimum=1),
        "decay_rate": Key("float", 0.96, "Learning rate decay factor; 1 keeps it constant.", minimum=0.0, maximum=1.0),
        "max_iterations": Key("int|auto", 4000, "Iterations at most per image; 'auto': as many as let every photo "
                              "finish within the time budget (measured; time freed by early stopping goes to the photos "
                              "still waiting).", minimum=1),
        "min_iterations": Key("int", 50, "With max_iterations auto: fewer iterations per photo than this is refused "
                              "before painting starts.", minimum=1),
        "patience": Key("int", 100, "Stop an image after this many iterations without improvement.", minimum=1),
        "delta": Key("float", 1e-4, "Relative improvement that counts: below best * (1 - delta).", minimum=0.0,
                     maximum=1.0, exclusive_maximum=True),
        "style": Key("str", "random", "'random' (a seeded Monet per photo) or one painting's name."),
        "image_size": Key("int", 256, "Side the photos are painted at (results are saved at 256).", minimum=32),
        "batch_size": Key("int", 8, "Photos optimized at once (one compiled step).", minimum=1),
        "limit": Key("int", None, "Paint only the first N photos; null paints all.", minimum=1, optional=True),
        "jit_compile": Key("bool", False, "Compile the step with XLA (helps on GPU)."),
        "plot_images": Key("int", 4, "Photos whose loss per iteration is plotted.", minimum=0, maximum=16),
        "user_images": Key("str", None, "A folder of your own photos to paint (any size, JPEG or PNG); null: none.",
                           optional=True),
        "user_max_side": Key("int", 512, "Longest side of your painted photos (aspect ratio kept).", minimum=32),
    },
    "package": {
        "source": Key("str", "cyclegan", "What makes the images: the trained CycleGAN or the NST stage's images.",
                      choices=("cyclegan", "nst")),
        "generator": Key("str", None, "A saved generator (.keras); null = this run's cyclegan/generator.keras.",
                         optional=True),
        "batch_size": Key("int", 32, "Photos per generator call.", minimum=1),
        "fit_count": Key("str", "refuse", "A photo count outside Kaggle's 7,000-10,000: refuse (an error before "
                         "translating), cap (the first 10,000), repeat (cycle the photos up to 7,000; "
                         "each photo is translated once), or keep (all; the zip is kept as images.rejected.zip for "
                         "local use).",
                         choices=("refuse", "cap", "repeat", "keep")),
        "jpeg_quality": Key("int", 75, "JPEG quality of the submitted images. 75 (the competition's own JPEGs' "
                            "tables) measured 4.9-5.7 FID lower than 95 on Kaggle's network for two trained recipes "
                            "(docs/quality.md).", minimum=1, maximum=100),
        "mode_filter": Key("int", 0, "Pillow's mode filter on each generated image before encoding: each channel's "
                           "most frequent value in a window of this odd side (flat patches, sharp edges); 0: off. 5 "
                           "measured 7.6 FID lower on Kaggle's network for a cpu.yaml generator (docs/quality.md); "
                           "about 37 ms an image with colour_match.", minimum=0, maximum=15),
        "colour_match": Key("str", "off", "After the mode filter, each generated image's colours moved to the run's "
                            "paintings': mean_sd (each channel's mean and standard deviation), histogram (each "
                            "channel's histogram), hsv_histogram (the histograms of hue, saturation and value), or "
                            "off. On Kaggle's network, a cpu.yaml generator with the mode filter scored 149.2 alone, "
                            "146.9 with mean_sd, 145.0 with histogram; another, with grey grain after, 142.3 with "
                            "histogram and 139.6 with hsv_histogram (docs/quality.md).",
                            choices=("off", "mean_sd", "histogram", "hsv_histogram")),
        "grain": Key("float", 0.0, "Last, Gaussian noise of this standard deviation (0-255 levels) on each pixel and "
                     "channel of each generated image (grey: see grain_grey), seeded by the image (reruns and shards "
                     "write the same bytes); 0: off. It paints nothing: it moves the fine texture toward the "
                     "paintings' as Kaggle's network sees it. After the mode filter and histogram, 6 measured 1.4-3.0 "
                     "FID lower on Kaggle's network for three cpu.yaml generators, 3.9 for the photos; after "
                     "hsv_histogram, 1.2 and 2.9 (grey: 2.7 and 3.5) for two more (docs/quality.md).",
                     minimum=0.0, maximum=32.0),
        "grain_grey": Key("bool", False, "The grain's noise the same on the three channels of a pixel (grey) rather "
                          "than drawn for each channel. After the mode filter and hsv_histogram it measured 1.5 and "
                          "0.6 FID lower than grain on each channel for two cpu.yaml generators; after histogram, "
                          "0.4 higher and 0.5 lower (docs/quality.md)."),
        "sample_images": Key("int", 8, "Results shown in submission/grid.png.", minimum=1, maximum=32),
        "shard": Key("str", None, "'i/n': write only the i-th of n equal shares of the images (after fit_count) into a "
                     "partial zip (python -m monet merge joins them); null: the whole submission.", optional=True),
    },
    "evaluate": {
        "weights": Key("str", "auto", "The scoring network: 'kaggle' (Kaggle's own network and scale, converted "
                       "once by `python -m monet weights kaggle`), 'auto' ('kaggle' where converted, else 'imagenet'), "
                       "a converted .npz or classify_image_graph_def.pb path (Kaggle's network), 'imagenet' (Keras "
                       "InceptionV3, downloaded once; not Kaggle's scale), a Keras InceptionV3 weights file, or "
                       "'none' (random: figures not comparable)."),
        "real_dir": Key("str", None, "Folder of real paintings to score against; null: the run's own paintings.",
                        optional=True),
        "batch_size": Key("int", 32, "Images per InceptionV3 call.", minimum=1),
        "epsilon": Key("float", 0.1, "Memorization threshold: distances at or above it count as 1.", minimum=0.0),
        "max_images": Key("int", None, "Score only the first N generated images; null: all.", minimum=2,
                          optional=True),
        "nearest_images": Key("int", 4, "Generated images shown beside their nearest painting.", minimum=0,
                              maximum=16),
        "cache_dir": Key("str", None, "Feature cache; null: .feature-cache/ beside the run folders.", optional=True),
        "judge": Key("bool", True, "Also the judge that needs no downloaded weights (monet.scoring.judge): C2ST "
                     "accuracy of a small CNN trained from scratch (0.5: indistinguishable from the paintings) and KID "
                     "on random CNN features; about a minute for 250 paintings against 1,000 images on 2 CPU cores."),
        "judge_seed": Key("int", 0, "Seed of the judge's classifier, folds and random features.", minimum=0),
    },
}

SCHEMA: dict[str, Any] = {**TOP, **SECTIONS}

# Keras's VGG19 without its top (checked against the model by a test), so layer names validate before any run.
VGG19_LAYERS = tuple(
    f"block{b}_{kind}" for b, convs in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
    for kind in [*(f"conv{i}" for i in range(1, convs + 1)), "pool"])


def describe_schema() -> str:
    """Every key with its type, default and meaning, as Markdown rows."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, spec in TOP.items():
        rows.append(f"| `{name}` | {spec.describe()} | `{spec.default!r}` | {spec.help} |")
    for section, keys in SECTIONS.items():
        for name, spec in keys.items():
            rows.append(f"| `{section}.{name}` | {spec.describe()} | `{spec.default!r}` | {spec.help} |")
    return "\n".join(rows)


DECAY_FROM = {"cyclegan": 0.5, "cut": 0.5, "fastcut": 0.75}  # the official schedules: epochs held, then decayed


def decay_from(cfg: dict) -> float:
    """The cyclegan section's ``decay_from`` made concrete (``auto``: the model's published schedule)."""
    value = cfg["decay_from"]
    return DECAY_FROM[cfg.get("model", "cyclegan")] if value == "auto" else float(value)
