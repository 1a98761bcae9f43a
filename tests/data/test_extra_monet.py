"""fetch.extra_monet: folders of further paintings checked, converted, de-duplicated against the competition's
paintings and each other, counted, and added to the manifest's training paintings (small generated images)."""
import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from monet.core import runs
from monet.data import duplicates, extra as extras, fetch as data, images
from tests.data.test_data import tree_hash


def painting(seed: int, size=(256, 256)) -> Image.Image:
    """A distinct smooth image per seed: random 6x6 colours blown up, plus fine strokes."""
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    strokes = rng.normal(0, 6, (size[1], size[0] // 4, 3)).repeat(4, axis=1)
    return Image.fromarray(np.clip(np.asarray(low, dtype=np.float32) + strokes, 0, 255).astype(np.uint8))




@pytest.fixture()
def layout(tmp_path):
    """A competition folder (paintings c0..c3, from larger or non-square originals as Kaggle's were) and two
    extra folders holding copies of them, of each other, new paintings and files to skip."""
    root = tmp_path / "gan"
    (root / "monet_jpg").mkdir(parents=True)
    (root / "photo_jpg").mkdir()
    big = [painting(s, (512, 512)) for s in range(3)] + [painting(3, (600, 400))]
    for i, im in enumerate(big):  # the competition's 256x256 versions: resized (c3: squashed) and re-encoded
        im.resize((256, 256), Image.LANCZOS).save(root / "monet_jpg" / f"c{i}.jpg", quality=90)
    for i in range(2):
        painting(100 + i).save(root / "photo_jpg" / f"p{i}.jpg")
    a, b = tmp_path / "extra_a", tmp_path / "extra_b"
    a.mkdir()
    b.mkdir()
    shutil.copy(root / "monet_jpg" / "c0.jpg", a / "same_as_c0.jpg")  # exact duplicate
    with Image.open(root / "monet_jpg" / "c1.jpg") as im:
        im.save(a / "c1_quality40.jpg", quality=40)  # re-encoded at another quality
    big[2].save(a / "c2_original.png")  # the larger original, as PNG: converted, then a near duplicate
    big[3].save(a / "c3_original.jpg", quality=85)  # 600x400: the crop differs, the squashed whole matches
    painting(10, (300, 200)).save(a / "new10.png")  # new, PNG, not 256: converted and added
    painting(11).save(a / "new11.jpg", quality=90)  # new, 256x256 RGB JPEG: used in place
    (a / "broken.jpg").write_bytes(b"not an image")
    (a / "notes.txt").write_text("not counted: not an image by its suffix")
    with Image.open(a / "new10.png") as im:
        im.convert("RGB").resize((600, 400), Image.BICUBIC).save(b / "new10_larger.jpg", quality=70)  # of A's
    painting(12).convert("L").save(b / "new12_grey.jpg")  # new, greyscale: converted and added
    return root, a, b


def test_extra_paintings_are_added_deduplicated_and_counted(layout, tmp_path):
    root, a, b = layout
    out = tmp_path / "run" / "data"
    summary = data.prepare(root, out, extra_monet=[str(a), str(b)])
    extra = summary["extra_monet"]
    assert {k: extra[k] for k in ("folders", "found", "added", "converted", "duplicates_dropped",
                                  "unreadable_skipped")} == {
        "folders": 2, "found": 9, "added": 3, "converted": 2, "duplicates_dropped": 5, "unreadable_skipped": 1}
    part_a, part_b = extra["by_folder"]
    assert (part_a["found"], part_a["added"], part_a["duplicates_dropped"], part_a["unreadable_skipped"]) == (7, 2, 4, 1)
    assert (part_b["found"], part_b["added"], part_b["duplicates_dropped"]) == (2, 1, 1)
    dups = {d["file"].rsplit("/", 1)[1]: (d["of"], d["how"]) for d in part_a["duplicates"] + part_b["duplicates"]}
    assert dups == {"same_as_c0.jpg": ("c0", "exact"), "c1_quality40.jpg": ("c1", "near"),
                    "c2_original.png": ("c2", "near"), "c3_original.jpg": ("c3", "near"),
                    "new10_larger.jpg": ("new10", "near")}  # against the competition's and each other
    assert not any(d["mirrored"] for d in part_a["duplicates"] + part_b["duplicates"])
    assert part_a["unreadable"][0]["file"].endswith("broken.jpg")
    manifest = data.read_manifest(out.parent)
    assert [(r["name"], r["origin"]) for r in manifest["monet"]] == [
        ("c0", "competition"), ("c1", "competition"), ("c2", "competition"), ("c3", "competition"),
        ("new10", "extra"), ("new11", "extra"), ("new12_grey", "extra")]
    assert [r["name"] for r in data.read_manifest(out.parent, extra=False)["monet"]] == ["c0", "c1", "c2", "c3"]
    assert len(manifest["photo"]) == 2 and {r["origin"] for r in manifest["photo"]} == {"competition"}


def test_sources_are_never_written_and_conversions_live_in_the_run_folder(layout, tmp_path):
    root, a, b = layout
    before = [tree_hash(p) for p in (root, a, b)]
    out = tmp_path / "run" / "data"
    data.prepare(root, out, extra_monet=[str(a), str(b)])
    assert [tree_hash(p) for p in (root, a, b)] == before
    rows = {r["name"]: r for r in data.read_manifest(out.parent)["monet"] if r["origin"] == "extra"}
    assert rows["new11"]["path"] == rows["new11"]["source"] == str(a / "new11.jpg")  # already 256 RGB JPEG
    for name, folder in (("new10", "1"), ("new12_grey", "2")):  # PNG 300x200 and greyscale: converted
        source = rows[name]["source"].rsplit("/", 1)[1]
        assert rows[name]["path"] == str(out / "converted" / "extra_monet" / folder / f"{source}.jpg")
    for row in rows.values():
        with Image.open(row["path"]) as im:
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (256, 256))
    kept = sorted(p.name for p in (out / "converted" / "extra_monet").rglob("*.jpg"))
    assert kept == ["new10.png.jpg", "new12_grey.jpg.jpg"]  # duplicates' conversions are removed


def test_distinct_paintings_are_all_kept_but_mirrored_copies_are_dropped(tmp_path):
    """Training flips paintings: a mirrored copy (even re-encoded, or of a non-square source) is a duplicate, while
    24 distinct paintings, compared as they are and mirrored, all stay."""
    root = tmp_path / "gan"
    (root / "monet_jpg").mkdir(parents=True)
    (root / "photo_jpg").mkdir()
    for s in range(6):
        painting(s).save(root / "monet_jpg" / f"c{s}.jpg")
    painting(50).save(root / "photo_jpg" / "p.jpg")
    extra = tmp_path / "extra"
    extra.mkdir()
    for s in range(6, 30):
        painting(s, (320, 256) if s % 2 else (256, 256)).save(extra / f"e{s}.jpg", quality=85)
    painting(5).transpose(Image.FLIP_LEFT_RIGHT).save(extra / "z_c5_mirrored.jpg")  # of the competition's
    painting(7, (320, 256)).transpose(Image.FLIP_LEFT_RIGHT).save(extra / "z_e7_mirrored.jpg", quality=60)  # of e7
    summary = data.prepare(root, tmp_path / "out", extra_monet=[str(extra)])
    assert (summary["extra_monet"]["added"], summary["extra_monet"]["duplicates_dropped"]) == (24, 2)
    dups = {d["file"].rsplit("/", 1)[1]: (d["of"], d["how"], d["mirrored"])
            for d in summary["extra_monet"]["by_folder"][0]["duplicates"]}
    assert dups == {"z_c5_mirrored.jpg": ("c5", "near", True), "z_e7_mirrored.jpg": ("e7", "near", True)}
    assert "duplicate (near, mirrored, distance" in "\n".join(extras.extra_monet_report(summary))


def test_the_near_duplicate_test_itself():
    base = np.asarray(painting(1))
    index = duplicates.Index()
    index.add("one", duplicates.image_key(base))
    assert index.find(duplicates.image_key(base)) == ("one", "exact", 0.0, False)
    brighter = np.clip(base.astype(np.int16) * 11 // 10 + 5, 0, 255).astype(np.uint8)
    name, how, distance, mirrored = index.find(duplicates.image_key(brighter))
    assert (name, how, mirrored) == ("one", "near", False) and distance <= duplicates.NEAR_DISTANCE
    assert index.find(duplicates.image_key(np.ascontiguousarray(base[:, ::-1]))) == ("one", "near", 0.0, True)
    name, how, distance, mirrored = index.find(duplicates.image_key(np.ascontiguousarray(brighter[:, ::-1])))
    assert (name, how, mirrored) == ("one", "near", True) and distance <= duplicates.NEAR_DISTANCE
    assert index.find(duplicates.image_key(np.asarray(painting(2)))) is None
    assert index.find(duplicates.image_key(np.asarray(painting(2).transpose(Image.FLIP_LEFT_RIGHT)))) is None
    flat = duplicates.Index()  # flat images: the same hash and thumbnail shape, told apart by their colour
    flat.add("red", duplicates.image_key(np.full((256, 256, 3), (200, 30, 30), np.uint8)))
    assert flat.find(duplicates.image_key(np.full((256, 256, 3), (30, 30, 200), np.uint8))) is None


def test_a_mirrored_thumbnail_is_the_mirrored_images_thumbnail():
    """find mirrors the new image's thumbnails instead of the image: the same thing for the 256x256 view (16x16
    boxes), within rounding for the whole (squashed) view of a non-square source (600 px in 16 boxes)."""
    square, wide = painting(4), painting(5, (600, 400))
    key = duplicates.image_key(np.asarray(square), wide)
    flipped = duplicates.image_key(np.asarray(square.transpose(Image.FLIP_LEFT_RIGHT)),
                                   wide.transpose(Image.FLIP_LEFT_RIGHT))
    np.testing.assert_array_equal(flipped.thumbs[0], key.thumbs[0, :, ::-1])
    np.testing.assert_allclose(flipped.thumbs[1], key.thumbs[1, :, ::-1], atol=2)


def test_hash_distances_need_no_numpy_2(monkeypatch):
    """requirements allow numpy 1.26, which has no np.bitwise_count: the Hamming distance is a byte lookup table,
    equal to counting unpacked bits, and find works without bitwise_count."""
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (5, 32), dtype=np.uint8), rng.integers(0, 256, (7, 32), dtype=np.uint8)
    expected = np.unpackbits(a[:, None, :] ^ b[None, :, :], axis=-1).sum(-1)
    np.testing.assert_array_equal(duplicates._bit_distance(a, b), expected)
    assert duplicates._bit_distance(a[:1], ~a[:1]).item() == 256
    index = duplicates.Index()
    index.add("one", duplicates.image_key(np.asarray(painting(1))))
    brighter = np.clip(np.asarray(painting(1), np.int16) + 6, 0, 255).astype(np.uint8)
    assert index.find(duplicates.image_key(brighter))[:2] == ("one", "near")


def test_a_missing_or_empty_folder_is_an_error_naming_the_key(layout, tmp_path):
    root, a, _ = layout
    with pytest.raises(images.DataError, match=r"fetch.extra_monet entry 'no/such/folder': .* is not a folder"):
        data.prepare(root, tmp_path / "out", extra_monet=["no/such/folder"], repo_root=tmp_path)
    empty = tmp_path / "empty"
    (empty / "paintings").mkdir(parents=True)
    (empty / "readme.txt").write_text("x")
    with pytest.raises(images.DataError, match=r"fetch.extra_monet entry '.*empty': .* holds no images .*"
                                             r"found: paintings/, readme.txt. Name a subfolder"):
        data.prepare(root, tmp_path / "out", extra_monet=[str(a), str(empty)])
    assert not (tmp_path / "out").exists()  # checked before anything was scanned or written
    with pytest.raises(images.DataError, match="fetch.extra_monet entry 'missing'"):  # before generating data
        data.fetch(tmp_path / "run", "synthetic", extra_monet=["missing"], repo_root=tmp_path)
    assert not (tmp_path / "run").exists()


def test_preflight_stops_the_run_on_a_missing_folder(tmp_path, repo, capsys):
    from monet import cli

    argv = ["run", "--params", str(repo / "params" / "quickstart.yaml"), "--outputs", str(tmp_path), "--dry-run",
            "--set", "data_dir=synthetic"]
    assert cli.main(argv + ["--set", "fetch.extra_monet=[no/such/paintings]"]) == 2
    err = capsys.readouterr().err
    assert "fetch.extra_monet entry" in err and "no/such/paintings" in err and "is not a folder" in err
    (tmp_path / "more").mkdir()
    painting(1).save(tmp_path / "more" / "m.png")
    assert cli.main(argv + ["--set", f"fetch.extra_monet=[{tmp_path / 'more'}]"]) == 0


def test_kaggle_entries_resolve_to_the_kernels_mount(tmp_path, monkeypatch):
    monkeypatch.setenv("MONET_KAGGLE_ROOT", str(tmp_path / "kaggle"))
    assert extras.kaggle_dataset("kaggle:someone/monet-art/images/") == ("someone/monet-art", "images")
    assert extras.kaggle_dataset("some/folder") is None
    with pytest.raises(images.DataError, match="expected kaggle:OWNER/SLUG"):
        extras.kaggle_dataset("kaggle:just-a-slug")
    with pytest.raises(images.DataError, match=r"someone/monet-art is not mounted here .*kaggle datasets download"):
        extras.resolve_extra_folder("kaggle:someone/monet-art/images")
    mount = tmp_path / "kaggle" / "input" / "monet-art"
    (mount / "images").mkdir(parents=True)
    assert extras.resolve_extra_folder("kaggle:someone/monet-art/images") == mount / "images"
    with pytest.raises(images.DataError, match="holds no images"):
        extras.check_extra_folders(["kaggle:someone/monet-art/images"])
    painting(3).save(mount / "images" / "a.jpg")
    assert extras.check_extra_folders(["kaggle:someone/monet-art/images"]) == [mount / "images"]


def test_no_extra_keeps_the_manifest_as_it_was(layout, tmp_path):
    root, _, _ = layout
    summary = data.prepare(root, tmp_path / "data")
    with open(tmp_path / "data" / "manifest.csv", newline="") as fh:
        assert next(csv.reader(fh)) == ["domain", "name", "path", "source"]  # no origin column: same fingerprint
    assert "extra_monet" not in summary and extras.extra_monet_report(summary) == []
    assert data.read_manifest(tmp_path)["monet"][0]["origin"] == "competition"


def test_summary_report_lines_and_run_json_note(layout, tmp_path):
    root, a, b = layout
    summary = data.prepare(root, tmp_path / "run" / "data", extra_monet=[str(a), str(b)])
    lines = extras.extra_monet_report(summary, shown=1)
    assert lines[0] == ("extra paintings: 2 folder(s), 9 found, 3 added (2 converted), 5 duplicates dropped, "
                        "1 unreadable skipped")
    assert lines[1] == f"  {a}: 7 found, 2 added, 4 duplicates, 1 unreadable"
    assert "... and 3 more (all in data/summary.json)" in lines[4]
    assert runs.stage_extras(tmp_path / "run", "fetch") == {
        "note": "extra paintings: 3 of 9 added, 5 duplicates dropped, 1 unreadable skipped"}


def test_extra_paintings_join_the_tfrecords(tmp_path):
    from monet.data import tfdata

    root = data.make_synthetic(tmp_path / "syn", n_monet=3, n_photo=2, seed=5, monet_tfrec_files=1,
                               photo_tfrec_files=1)
    extra = tmp_path / "extra"
    extra.mkdir()
    for s in range(2):
        painting(s, (300, 300)).save(extra / f"e{s}.png")
    summary = data.prepare(root, tmp_path / "run" / "data", extra_monet=[str(extra)])
    tfrecords = summary["domains"]["monet"]["tfrecords"]
    assert tfrecords[-1] == str(tmp_path / "run" / "data" / "extra_monet.tfrec") == summary["extra_monet"]["tfrecord"]
    assert len(tfdata.read_tfrecord_images(tfrecords)) == 3 + 2
    data.prepare(root, tmp_path / "run" / "data")  # a rerun without extras leaves no stale file
    assert not (tmp_path / "run" / "data" / "extra_monet.tfrec").exists()
