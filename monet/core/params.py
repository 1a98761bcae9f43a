"""Loading and validating params against the one schema (:mod:`monet.core.schema`): YAML, ``--set`` overrides, errors.

Loading is *literal*: only YAML 1.2 core scalars are
recognised (``1e-4`` is a float, ``2024-01-01`` stays a string, ``yes`` is a string, ``010`` is ten), and a
key given twice is an error. Validation collects every problem and raises one :class:`ParamsError` that
names the source, the key, what was expected and the valid keys, before any notebook starts.
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from monet.core.schema import SCHEMA, SECTIONS, STAGE_NAMES, STAGES, TOP, VGG19_LAYERS, Key, Stage

__all__ = ["ParamsError", "load_params", "validate", "apply_overrides", "defaults", "stage_parameters",
           "fingerprint", "notebook_config"]


class ParamsError(ValueError):
    """Invalid parameters; the message lists every problem found."""


# --------------------------------------------------------------------------------------------- loading
class _LiteralLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars only and an error for duplicate keys."""


_REMOVED = {"tag:yaml.org,2002:" + t for t in ("bool", "int", "float", "null", "timestamp")}
_LiteralLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in _REMOVED]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LiteralLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_LiteralLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_LiteralLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_LiteralLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                                     ["~", "n", "N", ""])


def _construct_int(loader, node):
    return int(loader.construct_scalar(node), 10)


def _construct_float(loader, node):
    text = loader.construct_scalar(node).lower().replace(".inf", "inf").replace(".nan", "nan")
    return float(text)


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_LiteralLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_LiteralLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_LiteralLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text literally (see module docstring); syntax errors name ``source``."""
    try:
        return yaml.load(text, Loader=_LiteralLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ParamsError(f"{source}: not valid YAML: {exc}") from None


def load_params(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Read a params file, apply ``key=value`` overrides and return the validated, complete params."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    raw = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values at the top level, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides)
    return validate(raw, source=str(path))


def apply_overrides(raw: dict, overrides) -> dict:
    """Return a copy of ``raw`` with ``section.key=value`` overrides set (values parsed as literal YAML)."""
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ParamsError(f"--set {item!r}: expected key=value, e.g. cyclegan.epochs=3")
        dotted, text = item.split("=", 1)
        parts = [p for p in dotted.strip().split(".")]
        if not all(parts):
            raise ParamsError(f"--set {item!r}: empty key")
        value = parse_yaml(text, f"--set {dotted}") if text.strip() else ""
        node = out
        for part in parts[:-1]:
            if node.get(part) is None:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise ParamsError(f"--set {item!r}: '{part}' is not a section")
            node = node[part]
        node[parts[-1]] = value
    return out


# ------------------------------------------------------------------------------------------ validation
def _type_ok(value: Any, kind: str) -> bool:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "int":
        return is_int
    if kind == "float":
        return is_int or isinstance(value, float)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "int|auto":
        return is_int or value == "auto"
    if kind == "float|auto":
        return is_int or isinstance(value, float) or value == "auto"
    if kind == "int|list[int]":
        return is_int or (isinstance(value, list) and bool(value)
                          and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
    raise AssertionError(f"unknown kind {kind}")


def _check_value(value: Any, spec: Key, where: str, problems: list[str]) -> Any:
    if value is None:
        if spec.optional:
            return None
        problems.append(f"key '{where}': expected {spec.describe()}, got null")
        return value
    if not _type_ok(value, spec.kind):
        problems.append(f"key '{where}': expected {spec.describe()}, got {value!r} ({type(value).__name__})")
        return value
    if spec.kind == "float" or (spec.kind == "float|auto" and value != "auto"):
        value = float(value)
    items = value if isinstance(value, list) else [value]
    for item in items:
        if spec.choices is not None and item not in spec.choices:
            problems.append(f"key '{where}': {item!r} is not one of {', '.join(map(str, spec.choices))}")
        if spec.minimum is not None and isinstance(item, (int, float)) and item < spec.minimum:
            problems.append(f"key '{where}': {item!r} is below the minimum {spec.minimum}")
        if spec.maximum is not None and isinstance(item, (int, float)) and (
                item >= spec.maximum if spec.exclusive_maximum else item > spec.maximum):
            problems.append(f"key '{where}': {item!r} is {'not below' if spec.exclusive_maximum else 'above'} the "
                            f"maximum {spec.maximum}")
    return value


def _unknown(key: str, where: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key '{where}'{hint}; valid keys{' in ' + where.rsplit('.', 1)[0] if '.' in where else ''}: " \
           + ", ".join(valid)


def defaults() -> dict:
    """The complete params with every default."""
    out = {k: copy.deepcopy(v.default) for k, v in TOP.items()}
    for name, keys in SECTIONS.items():
        out[name] = {k: copy.deepcopy(v.default) for k, v in keys.items()}
    return out


def validate(raw: dict, source: str = "params") -> dict:
    """Validate a (partial) params mapping and return it complete, with defaults filled in.

    Raises ParamsError listing every problem, each naming ``source`` and the dotted key.
    """
    problems: list[str] = []
    out = defaults()
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping, got {type(raw).__name__}")
    for key, value in raw.items():
        if key in TOP:
            out[key] = _check_value(value, TOP[key], key, problems)
        elif key in SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                problems.append(f"key '{key}': expected a section (mapping) with keys {', '.join(SECTIONS[key])}, "
                                f"got {value!r}")
                continue
            for sub, subvalue in value.items():
                spec = SECTIONS[key].get(sub)
                if spec is None:
                    problems.append(_unknown(str(sub), f"{key}.{sub}", SECTIONS[key]))
                else:
                    out[key][sub] = _check_value(subvalue, spec, f"{key}.{sub}", problems)
        else:
            problems.append(_unknown(str(key), str(key), SCHEMA))
    if not problems:
        _cross_checks(out, problems)
    if problems:
        raise ParamsError(f"{source}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
    return out


def _cross_checks(p: dict, problems: list[str]) -> None:
    stages = p["stages"]
    if not stages:
        problems.append("key 'stages': expected at least one of " + ", ".join(STAGE_NAMES))
    elif len(set(stages)) != len(stages) or stages != sorted(stages, key=STAGE_NAMES.index):
        problems.append(f"key 'stages': {stages} must list each stage once, in chain order: {', '.join(STAGE_NAMES)}")
    strides = p["cyclegan"]["disc_strides"]
    if isinstance(strides, list) and len(strides) != p["cyclegan"]["disc_blocks"]:
        problems.append(f"key 'cyclegan.disc_strides': {len(strides)} strides given for "
                        f"cyclegan.disc_blocks = {p['cyclegan']['disc_blocks']}; give one per block or a single int")
    for key, names in (("nst.style_layers", p["nst"]["style_layers"]), ("nst.content_layer", [p["nst"]["content_layer"]])):
        unknown = [n for n in names if n not in VGG19_LAYERS]
        if unknown:
            problems.append(f"key '{key}': unknown VGG19 layer(s) {', '.join(unknown)}; valid layers: "
                            + ", ".join(VGG19_LAYERS))
    if not p["nst"]["style_layers"]:
        problems.append("key 'nst.style_layers': expected at least one VGG19 layer")
    c = p["cyclegan"]
    if c["model"] != "cyclegan" and c["pool_size"]:
        problems.append(f"key 'cyclegan.pool_size': {c['pool_size']} but cyclegan.model {c['model']} has no image "
                        "pool (its discriminator judges the current fakes); set pool_size: 0")
    _size_checks(c, problems)
    layers = c["nce_layers"]
    if isinstance(layers, list) and len(set(layers)) != len(layers):
        problems.append(f"key 'cyclegan.nce_layers': {layers} names a layer twice")
    if c["score_checkpoints"] and c["keep_checkpoints"] and c["score_checkpoints"] > c["keep_checkpoints"]:
        problems.append(f"key 'cyclegan.score_checkpoints': {c['score_checkpoints']} checkpoints to score but "
                        f"cyclegan.keep_checkpoints = {c['keep_checkpoints']} keeps fewer; raise keep_checkpoints "
                        "(0 keeps all)")
    few = [k for k in ("keep_checkpoints", "score_checkpoints") if c[k] in (1, 2)]
    if c["spread_checkpoints"] and few:
        problems.append(f"key 'cyclegan.spread_checkpoints': checkpoints spread over the run need at least 3 of "
                        f"them, but cyclegan.{few[0]} = {c[few[0]]}; raise it to 3 or more (keep_checkpoints: 0 "
                        "keeps all)")
    _package_checks(p["package"], problems)
    if p["data_dir"].strip() == "":
        problems.append("key 'data_dir': expected a folder path, 'synthetic' or 'auto', got an empty string")


def _package_checks(k: dict, problems: list[str]) -> None:
    shard = k["shard"]
    if shard is not None:
        m = re.fullmatch(r"(\d+)/(\d+)", shard)
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            problems.append(f"key 'package.shard': {shard!r} is not 'i/n' with 1 <= i <= n, e.g. '1/4'")
    if k["mode_filter"] and (k["mode_filter"] < 3 or k["mode_filter"] % 2 == 0):
        problems.append(f"key 'package.mode_filter': {k['mode_filter']} is not an odd window side of 3 or more "
                        "(Pillow's filter reads an even side as the odd one above it); use 0 (off), 3, 5, 7...")
    if k["grain_grey"] and not k["grain"]:
        problems.append("key 'package.grain_grey': true, but package.grain is 0 (no grain to make grey); set "
                        "package.grain (cpu.yaml: 6) or leave grain_grey false")
    for key, off in (("mode_filter", 0), ("colour_match", "off"), ("grain", 0.0), ("grain_grey", False)):
        if k["source"] == "nst" and k[key] != off:
            problems.append(f"key 'package.{key}': {k[key]!r}, but the filters apply to the generator's images and "
                            f"package.source nst zips the NST stage's JPEGs as they are; set it to {off!r}")


def _size_checks(c: dict, problems: list[str]) -> None:
    """The training crop fits the networks: the generator halves it ``levels`` times and must double it back to
    the same side; on a crop (smaller than the photos it translates) its innermost map keeps 2x2 or more (at 1x1
    instance norm outputs a constant in training and not at 256 px; a ResNet's reflection padding needs 2); the
    discriminator keeps at least one patch."""
    size, full = c["train_size"], SECTIONS["cyclegan"]["train_size"].maximum  # the photos' side
    unet = c["generator"] == "unet"
    levels, key = (c["unet_depth"], "unet_depth") if unet else (c["gen_down_blocks"], "gen_down_blocks")
    if size % 2 ** levels:
        problems.append(f"key 'cyclegan.train_size': {size} is not a multiple of 2**cyclegan.{key} = {2 ** levels}; "
                        f"use a multiple of {2 ** levels}, or a smaller {key}")
    elif size // 2 ** levels < 2 and (size < full if unet else c["gen_res_blocks"] > 0):
        problems.append(f"key 'cyclegan.train_size': {size} leaves the generator's innermost map {size // 2 ** levels}"
                        f"x{size // 2 ** levels} after cyclegan.{key} = {levels} halvings; it needs 2x2 or more "
                        f"(use {key} <= {max(0, (size // 2).bit_length() - 1)}, or a larger train_size)")
    strides = c["disc_strides"] if isinstance(c["disc_strides"], list) else [c["disc_strides"]] * c["disc_blocks"]
    side = size
    for stride in strides:
        side = -(-side // stride)
    side = -(-side // c["disc_out_stride"]) if c["disc_out_padding"] == "same" else \
        (side - c["disc_out_kernel"]) // c["disc_out_stride"] + 1
    if side < 1:
        problems.append(f"key 'cyclegan.train_size': {size} leaves the discriminator no patch to judge (its "
                        "strides and output conv need a larger image); raise train_size or use fewer disc_blocks")


# ------------------------------------------------------------------------------------------- helpers
def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"unknown stage {name!r}; stages: {', '.join(STAGE_NAMES)}")


def stage_parameters(params: dict, stage_name: str) -> dict:
    """The flat parameters a stage's notebook receives (without ``run_dir``): its top keys and its section."""
    s = stage(stage_name)
    out = {k: params[k] for k in s.top_keys}
    out.update(params[s.section])
    return out


def notebook_keys(stage_name: str) -> dict[str, Key]:
    """The parameter names (with their specs) a stage's notebook must declare, besides ``run_dir``."""
    s = stage(stage_name)
    return {**{k: TOP[k] for k in s.top_keys}, **SECTIONS[s.section]}


def validate_stage_parameters(stage_name: str, values: dict, source: str) -> None:
    """Check a notebook's flat parameters (e.g. its defaults) against the schema; raises ParamsError."""
    s = stage(stage_name)
    raw = {k: values[k] for k in s.top_keys if k in values}
    raw[s.section] = {k: v for k, v in values.items() if k in SECTIONS[s.section]}
    validate(raw, source)


# keys added after runs existed (key: its section): at their default they stay out of fingerprints, so a run stopped
# before the upgrade still skips its done stages and resumes its checkpoints (a run that sets one differs, as it
# should).
ADDED_LATER = {"identity_start": "cyclegan", "train_size": "cyclegan", "mode_filter": "package",
               "colour_match": "package", "grain": "package", "grain_grey": "package"}


def without_later_defaults(values: dict) -> dict:
    """``values`` (a stage's flat parameters or a section) without the ADDED_LATER keys at their default."""
    return {k: v for k, v in values.items()
            if not (k in ADDED_LATER and v == SECTIONS[ADDED_LATER[k]][k].default)}


def fingerprint(obj: Any) -> str:
    """A short, stable hash of a JSON-able object (used to tell whether a stage's inputs changed)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def notebook_config(stage_name: str, namespace: dict) -> dict:
    """A stage's section as a validated dict, read from a notebook's parameter variables (``globals()``).

    A notebook edited by hand gets the same errors as a params file.
    """
    s = stage(stage_name)
    values = {k: namespace[k] for k in notebook_keys(stage_name) if k in namespace}
    missing = sorted(set(notebook_keys(stage_name)) - set(values))
    if missing:
        raise ParamsError(f"notebook of stage {stage_name}: parameters missing: {', '.join(missing)}")
    validate_stage_parameters(stage_name, values, f"notebook of stage {stage_name}")
    return {k: values[k] for k in SECTIONS[s.section]}
