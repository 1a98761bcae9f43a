"""Streaming images into the zip, and Kaggle's rules."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from monet import cli
from monet.package import images_zip, postprocess, stage as S, translator


def jpeg_bytes(size=(256, 256), mode="RGB", fmt="JPEG", flat=False):
    """An image of ``size``: a gradient (an image with content), or one flat colour."""
    buf = io.BytesIO()
    im = Image.new(mode, size, 90) if flat else Image.linear_gradient("L").resize(size).convert(mode)
    im.save(buf, format=fmt)
    return buf.getvalue()


def make_zip(path, n, blob=None, names=None):
    blob = blob or jpeg_bytes()
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(n):
            zf.writestr(names[i] if names else f"{i}.jpg", blob)
    return path


def test_count_message():
    with pytest.raises(images_zip.SubmissionError, match="5,100 photos give 5,100 images; Kaggle needs 7,000-10,000"):
        images_zip.check_count(5100)
    images_zip.check_count(7038)


def test_entry_names_are_unique_jpgs():
    assert images_zip.entry_names(["a", "b.png", "a", "a_2", "a"]) == ["a.jpg", "b.jpg", "a_2.jpg", "a_2_2.jpg", "a_3.jpg"]


def batches(n, size=32, seed=0):
    rng = np.random.default_rng(seed)
    for start in range(0, n, 7):
        yield rng.integers(0, 256, (min(7, n - start), size, size, 3), dtype=np.uint8)


def test_write_images_zip_streams_in_order_and_is_deterministic(tmp_path):
    names = [f"photo{i}" for i in range(20)]
    a = images_zip.write_images_zip(batches(20), names, tmp_path / "a.zip", deterministic=True)
    images_zip.write_images_zip(batches(20), names, tmp_path / "b.zip", deterministic=True)
    assert a["count"] == 20 and (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.namelist() == [f"photo{i}.jpg" for i in range(20)]
        first = zf.read("photo0.jpg")
    assert first == images_zip._encode(next(batches(20))[:1], 95)[0]  # the first image, encoded as given
    assert not list(tmp_path.glob("*.partial"))


def test_write_images_zip_count_mismatch_leaves_no_zip(tmp_path):
    with pytest.raises(images_zip.SubmissionError, match="5 images were generated for 6 names"):
        images_zip.write_images_zip(batches(5), [str(i) for i in range(6)], tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists() and not list(tmp_path.glob("*.partial"))


def test_validate_accepts_a_valid_zip(tmp_path):
    assert images_zip.validate_zip(make_zip(tmp_path / "ok.zip", 7000))["count"] == 7000


@pytest.mark.parametrize("n,blob,names,message", [
    (6999, None, None, "6,999 images; Kaggle needs 7,000-10,000"),
    (10001, None, None, "10,001 images"),
    (7000, jpeg_bytes((128, 128)), None, "RGB 128x128, expected RGB 256x256"),
    (7000, jpeg_bytes(mode="L"), None, "L 256x256"),
    (7000, jpeg_bytes(fmt="PNG"), None, "PNG image, not JPEG"),
    (7000, b"garbage", None, "does not decode"),
    (7000, None, [f"{i}.png" for i in range(7000)], "without a .jpg name"),
    (7000, None, [f"{i % 6999}.jpg" for i in range(7000)], "1 duplicate names"),
])
def test_validate_rejects_with_a_reason(tmp_path, n, blob, names, message):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        path = make_zip(tmp_path / "bad.zip", n, blob, names)
    with pytest.raises(images_zip.SubmissionError, match=message):
        images_zip.validate_zip(path)


def test_validate_decodes_repeated_bytes_once_and_counts_and_names_every_entry(tmp_path, monkeypatch):
    """A repeated zip (fit_count: repeat) is decoded once per distinct image; a bad or flat image is still
    counted, and named, under each of its entries."""
    decoded = []
    check = images_zip._check_jpeg
    monkeypatch.setattr(images_zip, "_check_jpeg", lambda blob: decoded.append(blob) or check(blob))
    good, small, flat = jpeg_bytes(), jpeg_bytes((128, 128)), jpeg_bytes(flat=True)
    path = tmp_path / "repeated.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(7000):
            zf.writestr(f"{i}.jpg", small if i in (3, 6000) else flat if i % 3 else good)
    with pytest.raises(images_zip.SubmissionError) as caught:
        images_zip.validate_zip(path)
    assert sorted(decoded) == sorted([good, small, flat])
    assert "2 images are not 256x256 RGB JPEGs, e.g. ['3.jpg: RGB 128x128" in str(caught.value)
    assert "6000.jpg: RGB 128x128" in str(caught.value)
    assert "check 'near-constant': 4,666 of 7,000 images" in str(caught.value)


def test_validate_missing_and_not_a_zip(tmp_path):
    with pytest.raises(images_zip.SubmissionError, match="does not exist"):
        images_zip.validate_zip(tmp_path / "none.zip")
    (tmp_path / "x.zip").write_text("hello")
    with pytest.raises(images_zip.SubmissionError, match="not a zip"):
        images_zip.validate_zip(tmp_path / "x.zip")


def test_translate_to_zip_matches_the_generator(tmp_path):
    import keras

    from monet.models import networks

    paths = []
    for i in range(5):
        paths.append(str(tmp_path / f"p{i}.jpg"))
        Image.new("RGB", (256, 256), (i * 40, 100, 200)).save(paths[-1], quality=100)
    keras.utils.set_random_seed(0)
    g = networks.resnet_generator(4, 2, 1)
    summary = translator.translate_to_zip(g, paths, [f"p{i}" for i in range(5)], tmp_path / "out.zip", batch_size=2,
                                 quality=100, progress=False)
    assert summary["count"] == 5
    x = np.stack([np.asarray(Image.open(p), dtype="float32") / 127.5 - 1 for p in paths])
    want = np.clip(np.rint((np.asarray(g(x)) + 1) * 127.5), 0, 255).astype(np.uint8)
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        got = [zf.read(f"p{i}.jpg") for i in range(5)]
    assert got == images_zip._encode(want, 100)  # exactly the generator's output, encoded


@pytest.fixture()
def packaged_run(small_run, tmp_path):
    import shutil

    import keras

    from monet.models import networks

    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    keras.utils.set_random_seed(0)
    (run / "cyclegan").mkdir()
    networks.resnet_generator(4, 2, 1).save(run / "cyclegan" / "generator.keras")
    return run


def package_cfg(**kw):
    from monet.core import params

    cfg = params.defaults()["package"]
    cfg.update(batch_size=8, **kw)
    return cfg


def test_shards_merge_into_the_one_shot_zip(packaged_run, tmp_path):
    run = packaged_run  # with grain: its noise follows each image, not its place in a batch or a shard
    summaries = [S.package(run, package_cfg(shard=f"{i}/3", fit_count="keep", grain=3.0), deterministic=True)
                 for i in (1, 2, 3)]
    assert all(s["filters"] == {"grain": 3.0} for s in summaries)
    shards = [s["zip"] for s in summaries]
    # 40 photos in batches of 8: 5 batches in 3 shares of 1, 2 and 2 batches
    assert [len(zipfile.ZipFile(p).namelist()) for p in shards] == [8, 16, 16]
    merged = images_zip.merge_shards(shards[::-1], tmp_path / "merged.zip", deterministic=True, validate=False)
    assert merged["count"] == 40
    with pytest.raises(images_zip.SubmissionError, match="40 photos give 40 images"):
        S.package(run, package_cfg(fit_count="keep", grain=3.0), deterministic=True)  # one shot: too few, kept aside
    assert (tmp_path / "merged.zip").read_bytes() == (run / "submission" / "images.rejected.zip").read_bytes()


def test_missing_repeated_and_foreign_shards_are_refused(packaged_run, tmp_path):
    run = packaged_run
    one, two = (S.package(run, package_cfg(shard=f"{i}/2", fit_count="keep"))["zip"] for i in (1, 2))
    with pytest.raises(images_zip.SubmissionError, match=r"missing shard\(s\) 2/2"):
        images_zip.merge_shards([one], tmp_path / "m.zip", validate=False)
    with pytest.raises(images_zip.SubmissionError, match="shard 1/2 given twice"):
        images_zip.merge_shards([one, one, two], tmp_path / "m.zip", validate=False)
    three = S.package(run, package_cfg(shard="1/3", fit_count="keep"))["zip"]
    with pytest.raises(images_zip.SubmissionError, match="different splits"):
        images_zip.merge_shards([one, two, three], tmp_path / "m.zip", validate=False)
    with pytest.raises(images_zip.SubmissionError, match="not a shard archive"):
        images_zip.merge_shards([make_zip(tmp_path / "plain.zip", 3)], tmp_path / "m.zip", validate=False)
    assert not (tmp_path / "m.zip").exists()
    assert cli.main(["merge", one, two, "--out", str(tmp_path / "m.zip")]) == 2  # 40 images: Kaggle's rules fail


def test_bad_shard_param():
    from monet.core import params

    with pytest.raises(params.ParamsError, match="package.shard': '3/2' is not 'i/n'"):
        params.validate({"package": {"shard": "3/2"}})


def test_a_full_disk_while_zipping_leaves_no_half_zip(tmp_path, monkeypatch):
    import zipfile as zf_module

    writes = []
    real = zf_module.ZipFile.writestr

    def failing(self, info, data, *a, **k):
        writes.append(info)
        if len(writes) == 3:
            raise OSError(28, "No space left on device")
        return real(self, info, data, *a, **k)

    monkeypatch.setattr(zf_module.ZipFile, "writestr", failing)
    target = tmp_path / "images.zip"
    with pytest.raises(images_zip.SubmissionError, match=r"could not write .*images.zip after 2 images .*No space left"):
        images_zip.write_jpegs_zip((b"x" for _ in range(5)), [f"i{k}" for k in range(5)], target)
    assert list(tmp_path.iterdir()) == []  # neither the zip nor its .partial


def test_count_is_refused_before_translating_unless_capped_repeated_or_kept(packaged_run, monkeypatch):
    run = packaged_run
    translated = []
    real = translator.translate_to_zip
    monkeypatch.setattr(S, "translate_to_zip", lambda g, paths, *a, **k: translated.append(len(paths)) or real(
        g, paths, *a, **k))
    with pytest.raises(images_zip.SubmissionError, match="40 photos give 40 images.*Nothing was translated.*fit_count"):
        S.package(run, package_cfg())
    assert translated == [] and not (run / "images.zip").exists()
    photos = [{"name": f"p{i}"} for i in range(12_000)]
    capped, note = S.fit_count(photos, "cap")
    assert len(capped) == 10_000 and "first 10,000" in note
    repeated, note = S.fit_count(photos[:3], "repeat")
    assert len(repeated) == 7_000 and [p["name"] for p in repeated[:4]] == ["p0", "p1", "p2", "p0"]
    assert images_zip.entry_names([p["name"] for p in repeated])[3] == "p0_2.jpg"
    assert S.fit_count(photos[:7038], "refuse") == (photos[:7038], None)


def test_repeated_photos_are_translated_once_and_shards_cut_the_repeated_list(packaged_run, tmp_path,
                                                                              monkeypatch):
    """fit_count repeat translates each photo once (its JPEG written under each name), and shards split the
    repeated list so that their merge is byte-identical to the one-shot zip (rules scaled to 100 images)."""
    run = packaged_run
    for module in (S, images_zip):
        monkeypatch.setattr(module, "MIN_IMAGES", 100)
    one_shot = S.package(run, package_cfg(fit_count="repeat"), deterministic=True)
    assert one_shot["valid"] and one_shot["count"] == 100 and one_shot["translated"] == 40
    assert "40 photos repeated to 100 images" in one_shot["fit_count"]
    with zipfile.ZipFile(run / "images.zip") as zf:
        names = zf.namelist()
        assert names[40] == names[0].replace(".jpg", "_2.jpg") and zf.read(names[40]) == zf.read(names[0])
    shards = [S.package(run, package_cfg(fit_count="repeat", shard=f"{i}/3"), deterministic=True) for i in (1, 2, 3)]
    assert [s["count"] for s in shards] == [32, 32, 36]  # 100 images in batches of 8, cut at whole batches
    assert [s["translated"] for s in shards] == [32, 32, 40]  # whole batches of the 40 photos that each one needs
    images_zip.merge_shards([s["zip"] for s in shards], tmp_path / "merged.zip", deterministic=True)
    assert (tmp_path / "merged.zip").read_bytes() == (run / "images.zip").read_bytes()


def test_a_span_translates_the_batches_a_one_shot_call_would(packaged_run, tmp_path):
    """translate_to_zip with duplicate paths and spans: the same bytes per entry as one call over everything."""
    import keras

    generator = keras.saving.load_model(packaged_run / "cyclegan" / "generator.keras", compile=False)
    photos = sorted(str(p) for p in (packaged_run / "data").rglob("*.jpg") if "photo" in str(p))[:6]
    paths = photos + photos[::-1] + photos[:1]  # 13 entries, 6 distinct
    names = [f"e{i}" for i in range(len(paths))]
    whole = translator.translate_to_zip(generator, paths, names, tmp_path / "whole.zip", batch_size=4, progress=False)
    assert whole["count"] == 13 and whole["translated"] == 6
    parts = [translator.translate_to_zip(generator, paths, names, tmp_path / f"part{a}.zip", batch_size=4, progress=False,
                                span=(a, b)) for a, b in ((0, 4), (4, 9), (9, 13))]
    assert [p["translated"] for p in parts] == [4, 6, 4]  # whole batches of the 4-photo grid that hold them
    with zipfile.ZipFile(tmp_path / "whole.zip") as zf:
        expected = {n: zf.read(n) for n in zf.namelist()}
    got = {}
    for a in (0, 4, 9):
        with zipfile.ZipFile(tmp_path / f"part{a}.zip") as zf:
            got.update({n: zf.read(n) for n in zf.namelist()})
    assert got == expected and expected["e0.jpg"] == expected["e11.jpg"] == expected["e12.jpg"]


def test_a_failed_repackaging_moves_the_previous_zip_aside(packaged_run):
    run = packaged_run
    (run / "images.zip").write_bytes(b"an old submission")
    with pytest.raises(images_zip.SubmissionError):
        S.package(run, package_cfg())
    assert not (run / "images.zip").exists()
    assert (run / "submission" / "images.previous.zip").read_bytes() == b"an old submission"


def test_the_translation_is_traced_once_per_generator():
    import keras

    from monet.models import networks

    keras.utils.set_random_seed(0)
    g = networks.resnet_generator(4, 1, 1)
    assert translator.translator(g) is translator.translator(g)


def test_a_zip_of_flat_images_and_a_generator_that_diverged_are_refused(tmp_path):
    """What NaN weights leave (black images: the uint8 cast turns NaN into 0) is refused by validate, naming the
    check; packaging refuses the generator itself first: non-finite output, or one flat colour for every photo."""
    import keras

    with pytest.raises(images_zip.SubmissionError, match="check 'near-constant': 7,000 of 7,000 images"):
        images_zip.validate_zip(make_zip(tmp_path / "black.zip", 7000, jpeg_bytes(flat=True)))
    mixed = tmp_path / "mixed.zip"  # a few flat images among real ones pass: skies and fog happen
    with zipfile.ZipFile(mixed, "w") as zf:
        for i in range(7000):
            zf.writestr(f"{i}.jpg", jpeg_bytes(flat=i % 10 == 0))
    assert images_zip.validate_zip(mixed)["count"] == 7000
    photos = []
    for i in range(3):
        photos.append(str(tmp_path / f"p{i}.jpg"))
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(photos[-1])
    inputs = keras.Input((256, 256, 3))
    for name, layer in (("non-finite output", keras.layers.Lambda(lambda x: x * float("nan"))),
                        ("near-constant output", keras.layers.Lambda(lambda x: x * 0.0 + 0.2))):
        with pytest.raises(images_zip.SubmissionError, match=f"check '{name}'"):
            translator.check_output(keras.Model(inputs, layer(inputs)), photos)
    translator.check_output(keras.Model(inputs, keras.layers.Lambda(lambda x: -x)(inputs)), photos)


def test_the_package_stage_writes_the_filtered_images(packaged_run):
    import keras

    from monet.data import fetch, tfdata

    cfg = package_cfg(shard="1/1", fit_count="keep", jpeg_quality=100)  # a shard: 40 photos are not refused
    assert "filters" not in S.package(packaged_run, cfg, deterministic=True)
    cfg.update(mode_filter=5, colour_match="hsv_histogram", grain=4.0, grain_grey=True)
    summary = S.package(packaged_run, cfg, deterministic=True)
    post = S.filters(packaged_run, cfg)
    assert summary["filters"] == post.describe() and (post.mode_size, post.how, post.grain, post.grain_grey) == (
        5, "hsv_histogram", 4.0, True)
    paintings = [np.asarray(Image.open(r["path"]).convert("RGB")) for r in fetch.read_manifest(packaged_run)["monet"]]
    np.testing.assert_array_equal(post.target.hsv_cdf, postprocess.palette(paintings).hsv_cdf)  # the run's paintings
    photos = fetch.read_manifest(packaged_run)["photo"][:8]  # the stage's first batch, decoded as it decodes it
    g = keras.saving.load_model(packaged_run / "cyclegan" / "generator.keras", compile=False)
    raw = translator.translator(g)(next(iter(tfdata.photo_batches([r["path"] for r in photos], 8)))).numpy()
    with zipfile.ZipFile(summary["zip"]) as zf:
        got = [zf.read(f"{r['name']}.jpg") for r in photos]
    assert got == images_zip._encode(np.stack([post(im) for im in raw]), 100)  # the filters, then the encoder
    assert got != images_zip._encode(raw, 100)
