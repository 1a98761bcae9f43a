"""Data layout, image checks and repairs, synthetic data, and the training data order."""
import hashlib
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from monet.data import fetch as data, images, tfdata as datasets


def jpeg(color, size=(256, 256), mode="RGB", fmt="JPEG") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format=fmt)
    return buf.getvalue()


def tree_hash(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return data.make_synthetic(tmp_path_factory.mktemp("syn") / "data", n_monet=7, n_photo=45, seed=11)


def test_synthetic_layout_and_counts(synthetic):
    assert len(list((synthetic / "monet_jpg").glob("*.jpg"))) == 7
    photos = sorted((synthetic / "photo_jpg").glob("*.jpg"))
    assert len(photos) == 45 and all(len(p.stem) == 10 for p in photos)
    assert len(list((synthetic / "monet_tfrec").glob("*.tfrec"))) == 5
    assert len(list((synthetic / "photo_tfrec").glob("*.tfrec"))) == 20
    with Image.open(photos[0]) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (256, 256))


def test_synthetic_tfrecords_have_the_competitions_features(synthetic):
    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in ("image_name", "image", "target")}
    records = [tf.io.parse_single_example(r, spec)
               for r in tf.data.TFRecordDataset(sorted(map(str, (synthetic / "photo_tfrec").glob("*.tfrec"))))]
    assert len(records) == 45
    first = records[0]
    name = first["image_name"].numpy().decode()
    assert first["target"].numpy() == b"photo"
    assert first["image"].numpy() == (synthetic / "photo_jpg" / f"{name}.jpg").read_bytes()
    assert tuple(tf.io.decode_jpeg(first["image"]).shape) == (256, 256, 3)


def test_synthetic_is_deterministic_and_reused(synthetic, tmp_path):
    again = data.make_synthetic(tmp_path / "again", n_monet=7, n_photo=45, seed=11)
    assert tree_hash(again) == tree_hash(synthetic)
    stamp = (again / "photo_jpg").stat().st_mtime_ns
    data.make_synthetic(tmp_path / "again", n_monet=7, n_photo=45, seed=11)
    assert (again / "photo_jpg").stat().st_mtime_ns == stamp  # complete earlier generation reused


@pytest.fixture()
def messy(tmp_path):
    root = tmp_path / "messy"
    (root / "monet_jpg").mkdir(parents=True)
    (root / "photo_jpg").mkdir()
    (root / "monet_jpg" / "m1.jpg").write_bytes(jpeg((200, 100, 50)))
    (root / "monet_jpg" / "m2.png").write_bytes(jpeg((0, 0, 0, 0), (300, 200), "RGBA", "PNG"))
    (root / "photo_jpg" / "p1.jpg").write_bytes(jpeg((10, 20, 30)))
    (root / "photo_jpg" / "p2.jpg").write_bytes(jpeg(128, mode="L"))
    (root / "photo_jpg" / "p3.jpg").write_bytes(b"not an image at all")
    (root / "photo_jpg" / "p4.jpg").write_bytes(jpeg((1, 2, 3))[:200])  # truncated
    (root / "photo_jpg" / "p1.png").write_bytes(jpeg((9, 9, 9), fmt="PNG"))  # same stem as p1.jpg
    (root / "photo_jpg" / ".DS_Store").write_bytes(b"x")
    return root


def test_prepare_converts_skips_lists_and_never_modifies_raw_data(messy, tmp_path):
    before = tree_hash(messy)
    out = tmp_path / "run" / "data"
    summary = data.prepare(messy, out)
    assert tree_hash(messy) == before
    photo = summary["domains"]["photo"]
    assert (photo["files"], photo["usable"]) == (5, 3)
    assert sorted(x["file"].rsplit("/", 1)[1] for x in photo["unreadable"]) == ["p3.jpg", "p4.jpg"]
    assert [x["file"].rsplit("/", 1)[1] for x in photo["converted"]] == ["p1.png", "p2.jpg"]
    assert "L 256x256" in photo["converted"][1]["why"]
    monet = summary["domains"]["monet"]
    assert "PNG RGBA 300x200" in monet["converted"][0]["why"]
    manifest = data.read_manifest(out.parent)
    assert sorted(r["name"] for r in manifest["photo"]) == ["p1", "p1_2", "p2"]
    for row in manifest["photo"] + manifest["monet"]:
        with Image.open(row["path"]) as im:
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (256, 256))
        if row["path"] != row["source"]:
            assert str(out) in row["path"]  # conversions live in the run folder


def test_no_usable_images_is_an_error(messy, tmp_path):
    for p in (messy / "monet_jpg").iterdir():
        p.write_bytes(b"broken")
    with pytest.raises(images.DataError, match=r"no usable images: .*monet_jpg: 2 files, none readable"):
        data.prepare(messy, tmp_path / "out")


def test_missing_layout_names_what_was_found(tmp_path):
    (tmp_path / "gan" / "monet_jpg").mkdir(parents=True)
    (tmp_path / "gan" / "photo_jpg").mkdir()
    with pytest.raises(images.DataError, match=r"missing monet_jpg/, photo_jpg/.*Found: gan/.*one level down"):
        data.check_layout(tmp_path)


def test_resolve_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MONET_KAGGLE_ROOT", str(tmp_path / "kaggle"))
    with pytest.raises(images.DataError, match="'auto'.*data_dir: kaggle.*synthetic"):
        data.resolve_data_dir("auto", tmp_path, repo_root=tmp_path)
    mount = tmp_path / "kaggle" / "input" / "gan-getting-started"
    mount.mkdir(parents=True)
    assert data.resolve_data_dir("auto", tmp_path) == (mount, "kaggle")
    assert data.resolve_data_dir("synthetic", tmp_path)[1] == "synthetic"
    assert data.resolve_data_dir("no/such/folder", tmp_path, repo_root=tmp_path) == \
        ((tmp_path / "no/such/folder").resolve(), "download")


def test_epoch_order_is_one_permutation_per_pass_and_windows_agree():
    whole = datasets.epoch_order(7, seed=1, start=0, count=21)
    for p in range(3):
        assert sorted(whole[7 * p:7 * p + 7]) == list(range(7))
    assert not np.array_equal(whole[:7], whole[7:14])  # reshuffled every pass
    parts = np.concatenate([datasets.epoch_order(7, 1, s, 5) for s in range(0, 20, 5)])
    np.testing.assert_array_equal(parts, whole[:20])


def test_an_epoch_reaches_every_photo_while_paintings_repeat(tmp_path):
    """The public tutorial zips two finite datasets and trains on the first 300 photos only; ours does not."""
    photos, monets = [], []
    for i in range(11):
        photos.append(str(tmp_path / f"p{i}.png"))
        Image.new("RGB", (256, 256), (i * 20, 0, 0)).save(photos[-1])
    for i in range(3):
        monets.append(str(tmp_path / f"m{i}.png"))
        Image.new("RGB", (256, 256), (0, i * 50, 0)).save(monets[-1])
    ds = datasets.paired_epoch(photos, monets, True, epoch=0, steps=11, batch_size=1, seed=4)
    seen_x, seen_y = [], []
    for x, y in ds:
        seen_x.append(int(round((float(x[0, 0, 0, 0]) + 1) * 127.5 / 20)))
        seen_y.append(int(round((float(y[0, 0, 0, 1]) + 1) * 127.5 / 50)))
    assert sorted(seen_x) == list(range(11))
    assert len(seen_y) == 11 and set(seen_y) == {0, 1, 2}


def test_augmentation_is_reproducible(synthetic):
    photos = sorted(str(p) for p in (synthetic / "photo_jpg").glob("*.jpg"))
    a = [x.numpy() for x in datasets.domain_window(photos, True, 3, 10, 4, ("jitter", "flip", "rot90"))]
    b = [x.numpy() for x in datasets.domain_window(photos, True, 3, 10, 4, ("jitter", "flip", "rot90"))]
    assert all(np.array_equal(u, v) for u, v in zip(a, b)) and a[0].shape == (256, 256, 3)


def test_tfrecord_images_match_the_jpegs(synthetic):
    blobs = datasets.read_tfrecord_images([str(p) for p in (synthetic / "monet_tfrec").glob("*.tfrec")])
    assert sorted(blobs) == sorted(p.read_bytes() for p in (synthetic / "monet_jpg").glob("*.jpg"))
