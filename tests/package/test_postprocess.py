"""The package's filters on tiny images: the mode filter (Pillow's, per channel) and colour matching (the stage
writing what they return: tests/package/test_submission.py)."""
import numpy as np
import pytest

from monet.package import postprocess as P


def test_the_mode_filter_takes_each_channels_most_frequent_value_of_the_window():
    image = np.zeros((7, 7, 3), np.uint8)
    image[..., 0] = 50  # channel 0: flat but for one speck, which the window's majority removes
    image[3, 3, 0] = 200
    image[..., 1] = np.arange(49, dtype=np.uint8).reshape(7, 7)  # channel 1: no value repeats: kept as it is
    image[:, :4, 2], image[:, 4:, 2] = 10, 240  # channel 2: an edge, kept sharp (no blend of 10 and 240)
    out = P.mode_filter(image, 3)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert (out[..., 0] == 50).all()
    assert (out[..., 1] == image[..., 1]).all()
    assert set(np.unique(out[..., 2])) == {10, 240}
    assert (out[:, 2, 2] == 10).all() and (out[:, 5, 2] == 240).all()


def test_colour_matching_moves_each_channel_to_the_target_mean_and_sd():
    rng = np.random.default_rng(0)
    image = rng.integers(60, 120, (32, 32, 3)).astype(np.uint8)
    target = P.Palette((100.0, 150.0, 50.0), (20.0, 10.0, 5.0), LINEAR)
    out = P.colour_match(image, target).astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), target.mean, atol=0.6)  # rounding to 8 bits
    np.testing.assert_allclose(out.std(axis=(0, 1)), target.std, atol=0.6)
    flat = P.colour_match(np.full((4, 4, 3), 7, np.uint8), target)  # no spread to scale: the target's mean
    assert flat.dtype == np.uint8 and (flat == np.round(target.mean).astype(np.uint8)).all()


LINEAR = np.tile(np.arange(1, 257) / 256, (3, 1))  # every level equally common


def test_histogram_matching_maps_each_channel_onto_the_target_levels():
    paintings = [np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 200, np.uint8)]  # half 0, half 200
    target = P.palette(paintings)
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, :, 0] = np.arange(16).reshape(4, 4)  # 16 levels: the lower 8 go to 0, the upper 8 to 200
    image[:, :, 1] = 90  # one level: every pixel at share 1, the target's top level
    image[:2, :, 2], image[2:, :, 2] = 30, 40
    out = P.histogram_match(image, target)
    assert (out[..., 0].ravel() == [0] * 8 + [200] * 8).all()
    assert (out[..., 1] == 200).all()
    assert (out[:2, :, 2] == 0).all() and (out[2:, :, 2] == 200).all()
    even = P.histogram_match(image, P.Palette((127.5,) * 3, (73.9,) * 3, LINEAR))  # monotone, onto 0-255
    assert (np.diff(even[..., 0].ravel().astype(int)) >= 0).all() and even[..., 0].max() == 255


def test_hsv_histogram_matching_moves_hue_saturation_and_value_onto_the_paintings():
    orange, blue = np.full((2, 2, 3), (200, 100, 0), np.uint8), np.full((2, 2, 3), (0, 0, 160), np.uint8)
    target = P.palette([orange, blue])  # Pillow's HSV: orange (21, 255, 200), blue (170, 255, 160)
    assert target.hsv_cdf.shape == (3, 256)
    assert (target.hsv_cdf[0, 20], target.hsv_cdf[0, 21], target.hsv_cdf[0, 169], target.hsv_cdf[0, 170]) == (
        0, 0.5, 0.5, 1.0)
    assert target.hsv_cdf[1, 254] == 0 and target.hsv_cdf[2, 159] == 0 and target.hsv_cdf[2, 160] == 0.5
    image = np.zeros((2, 4, 3), np.uint8)
    image[:, :2] = (0, 200, 0)  # green (hue 85), then magenta (hue 213), pale: hues in order, half and half
    image[:, 2:] = (180, 90, 180)
    matched = P.hsv_histogram_match(image, target)
    assert matched.dtype == np.uint8 and matched.shape == image.shape
    out = matched.astype(int)
    # the lower hue goes to orange, the upper to blue; each at full saturation and the target's value
    np.testing.assert_allclose(out[:, :2], np.broadcast_to([200, 100, 0], (2, 2, 3)), atol=2)
    np.testing.assert_allclose(out[:, 2:], np.broadcast_to([0, 0, 160], (2, 2, 3)), atol=2)
    rgb = P.histogram_match(image, target)  # per RGB channel, no hue is moved as one: not the same image
    assert np.abs(rgb.astype(int) - out).max() > 50
    with pytest.raises(ValueError, match="no HSV levels"):
        P.Postprocess(5, "hsv_histogram", P.Palette((90.0,) * 3, (30.0,) * 3, LINEAR))


def test_the_palette_pools_every_pixel_of_every_painting():
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.full((2, 2, 3), 100, np.uint8)
    pal = P.palette([a, b])
    assert pal.mean == (50.0, 50.0, 50.0) and pal.std == (50.0, 50.0, 50.0)
    assert pal.cdf.shape == (3, 256) and pal.cdf[0, 0] == 0.5 and pal.cdf[0, 99] == 0.5 and pal.cdf[0, 100] == 1.0
    pixels = P.palette([np.concatenate([a, b]).reshape(-1, 3)])  # any (..., 3) array: its pixels, as before
    np.testing.assert_array_equal(pixels.cdf, pal.cdf)
    np.testing.assert_array_equal(pixels.hsv_cdf, pal.hsv_cdf)
    assert pal.hsv_cdf[:, -1].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="no paintings"):
        P.palette([])


def test_the_filters_run_in_order_and_off_is_the_identity():
    rng = np.random.default_rng(1)
    image = (rng.integers(0, 4, (16, 16, 3)) * 60).astype(np.uint8)
    target = P.Palette((90.0, 90.0, 90.0), (30.0, 30.0, 30.0), LINEAR)
    assert not P.Postprocess() and P.Postprocess()(image) is image
    assert not P.Postprocess(0, "off", target)  # a target without colour matching is not used
    with pytest.raises(ValueError, match="with a target palette"):
        P.Postprocess(0, "histogram")
    both = P.Postprocess(5, "mean_sd", target)
    np.testing.assert_array_equal(both(image), P.colour_match(P.mode_filter(image, 5), target))
    assert both.describe() == {"mode_filter": 5, "colour_match": {"how": "mean_sd", "mean": [90.0] * 3,
                                                                  "std": [30.0] * 3}}
    by_histogram = P.Postprocess(5, "histogram", target)
    np.testing.assert_array_equal(by_histogram(image), P.histogram_match(P.mode_filter(image, 5), target))
    assert by_histogram.describe()["colour_match"]["how"] == "histogram"


def test_grain_is_gaussian_noise_of_its_sd_seeded_by_the_image():
    grey = np.full((64, 64, 3), 128, np.uint8)
    out = P.grain(grey, 6.0)
    noise = out.astype(np.float64) - 128
    assert out.dtype == np.uint8 and out.shape == grey.shape
    assert abs(noise.mean()) < 0.2 and 5.8 < noise.std() < 6.2  # 12,288 draws of N(0, 6), rounded
    assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]) < 0.05  # each channel its own
    np.testing.assert_array_equal(P.grain(grey.copy(), 6.0), out)  # the same image, the same noise (shards, reruns)
    other = grey.copy()
    other[0, 0, 0] = 129
    assert (P.grain(other, 6.0).astype(int) - other)[1:].std() > 5 and not np.array_equal(
        P.grain(other, 6.0)[1:], out[1:])  # another image, other noise
    black, white = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)
    assert P.grain(black, 6.0).min() == 0 and P.grain(white, 6.0).max() == 255  # clipped, never wrapped:
    assert P.grain(black, 6.0).max() < 40 and P.grain(white, 6.0).min() > 215  # the half below 0 (above 255) at 0
    assert 1 < P.grain(black, 6.0).mean() < 5 and 250 < P.grain(white, 6.0).mean() < 254  # E|N(0,6)|/2 = 2.4


def test_grain_comes_last_and_is_named():
    rng = np.random.default_rng(3)
    image = (rng.integers(0, 4, (16, 16, 3)) * 60).astype(np.uint8)
    target = P.Palette((90.0, 90.0, 90.0), (30.0, 30.0, 30.0), LINEAR)
    post = P.Postprocess(5, "histogram", target, 6.0)
    np.testing.assert_array_equal(post(image), P.grain(P.histogram_match(P.mode_filter(image, 5), target), 6.0))
    assert post.describe_short() == "mode 5x5, histogram, grain sd 6" and post.describe()["grain"] == 6.0
    alone = P.Postprocess(grain=2.5)
    assert alone and alone.describe_short() == "grain sd 2.5" and alone.describe() == {"grain": 2.5}
    np.testing.assert_array_equal(alone(image), P.grain(image, 2.5))
    assert "grain" not in P.Postprocess(5).describe()


def test_grey_grain_adds_the_same_noise_to_a_pixels_three_channels():
    grey = np.full((64, 64, 3), 128, np.uint8)
    out = P.grain(grey, 6.0, grey=True)
    noise = out.astype(np.float64) - 128
    assert (noise[..., 0] == noise[..., 1]).all() and (noise[..., 1] == noise[..., 2]).all()
    assert abs(noise.mean()) < 0.3 and 5.7 < noise[..., 0].std() < 6.3  # 4,096 draws of N(0, 6), rounded
    np.testing.assert_array_equal(P.grain(grey.copy(), 6.0, grey=True), out)  # seeded by the image
    post = P.Postprocess(grain=6.0, grain_grey=True)
    np.testing.assert_array_equal(post(grey), out)
    assert post.describe_short() == "grain sd 6 grey" and post.describe() == {"grain": 6.0, "grain_grey": True}
    assert "grain_grey" not in P.Postprocess(grain=6.0).describe()


def test_as_packaged_is_the_filters_then_the_jpeg_that_images_zip_holds():
    import io

    from PIL import Image

    from monet.data.images import jpeg_bytes

    rng = np.random.default_rng(2)
    image = (rng.integers(0, 4, (32, 32, 3)) * 60).astype(np.uint8)
    post = P.Postprocess(5)
    packaged = P.AsPackaged(post, 75)
    expected = np.asarray(Image.open(io.BytesIO(jpeg_bytes(P.mode_filter(image, 5), 75))).convert("RGB"))
    np.testing.assert_array_equal(packaged(image), expected)
    assert not np.array_equal(packaged(image), post(image))  # the JPEG's loss is part of what is ranked
    assert packaged.describe_short() == "mode 5x5, JPEG q75" and P.AsPackaged(P.Postprocess(), 95).describe_short() == (
        "JPEG q95")


@pytest.mark.parametrize("package,message", [
    ({"mode_filter": 4}, "package.mode_filter': 4 is not an odd window side"),
    ({"mode_filter": 1}, "package.mode_filter': 1 is not an odd window side"),
    ({"source": "nst", "colour_match": "histogram"}, "package.source nst zips the NST stage's JPEGs as they are"),
    ({"colour_match": True}, "package.colour_match"),
    ({"source": "nst", "grain": 6.0}, "package.grain': 6.0, but the filters apply to the generator's images"),
    ({"grain": -1.0}, "package.grain"),
    ({"source": "nst", "grain": 6.0, "grain_grey": True}, "package.grain_grey': True, but the filters apply"),
    ({"grain_grey": True}, "package.grain_grey': true, but package.grain is 0"),
    ({"colour_match": "hsv"}, "package.colour_match"),
])
def test_filters_a_run_cannot_apply_are_refused_before_it_starts(package, message):
    from monet.core import params

    for size in (0, 3, 5):
        ok = params.validate({"package": {"mode_filter": size, "colour_match": "histogram"}})["package"]
        assert (ok["mode_filter"], ok["colour_match"]) == (size, "histogram")
    with pytest.raises(params.ParamsError, match=message):
        params.validate({"package": package})
