import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from edgefuse.runtime import AudioSpec, ImageSpec
from edgefuse.runtime.errors import InputError
from edgefuse.runtime.preprocess import fit_window, load_audio, load_image
from edgefuse.runtime.preprocess.image import resize


def test_image_from_file_and_array_agree(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    spec = ImageSpec(height=20, width=25)
    from_file, from_array = load_image(tmp_path / "a.png", spec), load_image(pixels, spec)
    assert from_file.shape == (3, 20, 25) and from_file.dtype == np.float32
    np.testing.assert_array_equal(from_file, from_array)
    assert 0.0 <= from_file.min() and from_file.max() <= 1.0


def test_bilinear_shrink_matches_pillow():
    """Our antialiased bilinear resize against Pillow's, an independent implementation."""
    rng = np.random.default_rng(1)
    for (h, w), (oh, ow) in [((64, 48), (32, 24)), ((37, 53), (11, 19)), ((8, 8), (32, 32))]:
        pixels = rng.random((h, w)).astype(np.float32)
        ours = resize(pixels[:, :, None], oh, ow)[:, :, 0]
        theirs = np.asarray(Image.fromarray(pixels, mode="F").resize((ow, oh), Image.Resampling.BILINEAR))
        # Pillow differs only at the borders (edge handling); compare the interior tightly.
        np.testing.assert_allclose(ours[1:-1, 1:-1], theirs[1:-1, 1:-1], atol=2e-3)


@pytest.mark.parametrize(
    "pixels",
    [
        np.full((9, 7), 128, np.uint8),  # grayscale
        np.full((9, 7, 4), 128, np.uint8),  # RGBA
        np.full((9, 7), 32896, np.uint16),  # 16-bit
        np.full((1, 1, 3), 128, np.uint8),  # 1x1
        np.full((9, 7, 3), 128 / 255, np.float64),  # float 0..1
    ],
)
@pytest.mark.parametrize("order", ["RGB", "BGR", "GRAY"])
def test_unusual_images_work(pixels, order):
    spec = ImageSpec(height=8, width=8, color_order=order)
    x = load_image(pixels, spec)
    assert x.shape == (spec.channels, 8, 8)
    np.testing.assert_allclose(x, 128 / 255, atol=1e-3)


def test_colour_order_is_applied():
    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[..., 0] = 255  # pure red
    assert load_image(pixels, ImageSpec(height=4, width=4, color_order="RGB"))[0].mean() == 1.0
    assert load_image(pixels, ImageSpec(height=4, width=4, color_order="BGR"))[2].mean() == 1.0


def test_bad_images_fail_clearly(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    for path in [tmp_path / "empty.png", tmp_path / "text.png", tmp_path / "missing.png"]:
        with pytest.raises(InputError):
            load_image(path, ImageSpec())
    with pytest.raises(InputError, match="NaN"):
        load_image(np.full((4, 4), np.nan), ImageSpec())


def test_audio_resampled_and_mixed_to_mono(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1).astype(np.float32) * 0.5
    sf.write(tmp_path / "a.wav", stereo, 44100, subtype="PCM_16")
    x = load_audio(tmp_path / "a.wav", AudioSpec(sample_rate=16000))
    assert x.shape == (16000,) and x.dtype == np.float32
    assert abs(np.abs(x).max() - 0.5) < 0.02
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) * 16000 / len(x) - 440) < 2


def test_integer_arrays_and_given_rate():
    pcm = (np.sin(np.arange(8000) / 5) * 16000).astype(np.int16)
    x = load_audio(pcm, AudioSpec(sample_rate=16000), sample_rate=8000)
    assert x.shape == (16000,) and np.abs(x).max() <= 0.5


def test_fit_window_crops_and_pads_centred():
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fit_window(x, 4), [3, 4, 5, 6])
    np.testing.assert_array_equal(fit_window(x[:2], 4), [0, 0, 1, 0])


def test_bad_audio_fails_clearly(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(0).bytes(1000))
    for path in [tmp_path / "empty.wav", tmp_path / "noise.wav", tmp_path / "missing.wav"]:
        with pytest.raises(InputError):
            load_audio(path, AudioSpec())
    with pytest.raises(InputError, match="NaN"):
        load_audio(np.array([0.0, np.inf], np.float32), AudioSpec())
