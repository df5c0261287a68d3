"""srez_damage: each kind of damage does what it says; training pairs and eval's fixed damage."""
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

import srez_config
import srez_damage
import srez_pixels

# Every share 0: no damage of any kind, so a test can turn on one at a time.
NO_PARTS = dict(damage_clean=0.0, damage_resize=0.0, damage_jpeg=0.0)


def smooth_image(size=16, seed=0):
    """float32 [size, size, 3] in [0.2, 0.8]: a smooth colour field, distinct per seed."""
    y, x = np.mgrid[0:size, 0:size] / size
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 6, 3)
    channels = [np.sin(2 * x + 3 * y + phase) for phase in phases]
    return (0.5 + 0.3 * np.stack(channels, -1)).astype(np.float32)


@pytest.mark.parametrize('sigma', [0.8, 1.2, 2.0])
def test_blur_kernels_are_normalised_gaussians_of_their_sigma(sigma):
    kernel = srez_damage.gaussian_kernel(sigma).numpy()
    steps = np.arange(-srez_damage.BLUR_RADIUS, srez_damage.BLUR_RADIUS + 1)
    y, x = np.meshgrid(steps, steps, indexing='ij')

    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.sum(kernel * x) == pytest.approx(0.0, abs=1e-6)  # Centred.
    assert np.sqrt(np.sum(kernel * x ** 2)) == pytest.approx(sigma, rel=0.02)


def test_blur_keeps_a_flat_image_and_spreads_a_point_by_its_kernel():
    kernel = srez_damage.gaussian_kernel(1.2)
    flat = tf.fill([32, 32, 3], 0.4)
    point = np.zeros([32, 32, 3], np.float32)
    point[16, 16] = 1.0

    blurred_point = srez_damage.blur(tf.constant(point), kernel).numpy()

    np.testing.assert_allclose(srez_damage.blur(flat, kernel), flat, atol=1e-6)
    radius = srez_damage.BLUR_RADIUS
    np.testing.assert_allclose(blurred_point[16 - radius:17 + radius, 16 - radius:17 + radius, 0],
                               kernel, atol=1e-6)


@pytest.mark.parametrize('phase', [(0, 0), (3, 5), (7, 2)])
def test_jpeg_quantises_in_8x8_blocks_that_start_at_its_phase(phase):
    # Grey tiles of random levels on the 8x8 grid that starts `phase` pixels before the image:
    # a JPEG whose blocks fall on that grid keeps them almost exactly (each block is one level,
    # its DC term alone), and one whose blocks straddle the tiles' edges rings.
    rng = np.random.default_rng(1)
    levels = rng.uniform(0.2, 0.8, (6, 6))
    rows, columns = (np.arange(32) + phase[0]) // 8, (np.arange(32) + phase[1]) // 8
    tiles = np.repeat(levels[rows][:, columns][..., None], 3, -1).astype(np.float32)

    def error(at):
        coded = srez_damage.jpeg(tf.constant(tiles), 50, at).numpy()
        assert np.all(np.abs(coded - srez_damage.quantise(coded)) < 1e-6)  # 8-bit pixels.
        return np.abs(coded - tiles).mean()

    on_grid = error(phase)
    off_grid = error(((phase[0] + 4) % 8, (phase[1] + 4) % 8))
    assert on_grid < 1.5 / 255
    assert off_grid > 4 * on_grid


def test_jpeg_subsamples_chroma_as_camera_and_web_jpegs_do():
    # Stripes one pixel wide: in luminance they survive a good JPEG; in colour alone (equal
    # brightness, red against blue-green) the 4:2:0 subsampling averages them away.
    stripes = (np.arange(32) % 2).astype(np.float32)[None, :, None]
    grey = np.tile(0.3 + 0.4 * stripes, [32, 1, 3])
    colour = np.concatenate([0.5 + 0.2 * stripes, 0.5 - 0.0853 * stripes, 0.5 - 0.0853 * stripes],
                            -1) * np.ones([32, 1, 1], np.float32)

    def kept(image):
        coded = srez_damage.jpeg(tf.constant(image), 95).numpy()
        signal = image - image.mean(axis=(0, 1))
        return np.sum((coded - coded.mean(axis=(0, 1))) * signal) / np.sum(signal ** 2)

    assert kept(grey) > 0.9
    assert kept(colour) < 0.3


@pytest.mark.parametrize('grey', [False, True])
def test_gaussian_noise_has_the_asked_spread(grey):
    image = tf.fill([64, 64, 3], 0.5)
    noisy = srez_damage.gaussian_noise(image, 4 / 255, tf.constant(grey), [1, 2]).numpy()
    noise = noisy - 0.5

    assert noise.std() == pytest.approx(4 / 255, rel=0.05)
    assert abs(noise.mean()) < 0.1 * 4 / 255
    correlation = np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]
    assert correlation == pytest.approx(1.0 if grey else 0.0, abs=0.05)


def face_and_truth(sample_size=64):
    face = tf.constant(smooth_image(128, seed=3))
    return face, tf.image.resize(face, [sample_size, sample_size], method='area')


def test_clean_pairs_are_exact_area_downscales():
    face, truth = face_and_truth()
    inputs, pair_truth, valid = srez_damage.training_pair(face, 64, srez_config.DamageConfig(),
                                                           [0, 1])

    np.testing.assert_allclose(pair_truth, truth, atol=1e-6)
    np.testing.assert_allclose(inputs, tf.image.resize(truth, [16, 16], method='area'), atol=1e-6)
    np.testing.assert_array_equal(valid, np.ones((64, 64, 1)))


def test_damaged_pairs_keep_the_truth_and_quantise_the_input():
    face, truth = face_and_truth()
    config = dataclasses.replace(srez_config.DamageConfig(), damage_clean=0.0)

    for seed in range(6):
        inputs, pair_truth, _ = srez_damage.training_pair(face, 64, config, [seed, 0])
        np.testing.assert_allclose(pair_truth, truth, atol=1e-6)
        assert inputs.shape == (16, 16, 3)
        np.testing.assert_allclose(inputs, srez_damage.quantise(inputs), atol=1e-6)


def test_a_resize_downscales_by_its_kernel():
    # Fine detail, which each kernel keeps or averages away its own way.
    face = tf.random.stateless_uniform([128, 128, 3], [5, 5])
    truth = tf.image.resize(face, [64, 64], method='area')
    config = srez_config.DamageConfig(**dict(NO_PARTS, damage_resize=1.0))
    area = tf.image.resize(truth, [16, 16], method='area').numpy()
    inputs = [srez_damage.training_pair(face, 64, config, [seed, 3])[0].numpy()
              for seed in range(12)]
    # Every one is another 4x downscale of the truth: like its area downscale, not equal to it,
    # and the kernels differ among themselves.
    assert all(np.abs(image - area).max() > 1 / 255 for image in inputs)
    assert all(np.abs(image - area).mean() < 0.15 for image in inputs)
    assert len({image.tobytes() for image in inputs}) >= 3


def test_the_shares_say_how_often_each_damage_happens():
    face, truth = face_and_truth()
    clean_input = tf.image.resize(truth, [16, 16], method='area').numpy()
    config = dataclasses.replace(srez_config.DamageConfig(), damage_clean=0.5)

    changed = [np.abs(srez_damage.training_pair(face, 64, config, [seed, 9])[0]
                      - clean_input).max() > 1e-6 for seed in range(60)]
    # Half are left clean; almost every damaged input differs (quantising alone changes it).
    assert 0.3 < np.mean(changed) < 0.7


@pytest.mark.parametrize('text, parsed', [
    ('clean', srez_config.Damage()),
    ('jpeg:75', srez_config.Damage(jpeg=75)),
    ('blur:1.2+noise:3+jpeg:75', srez_config.Damage(blur=1.2, noise=3.0, jpeg=75)),
])
def test_damages_parse_and_print_back(text, parsed):
    assert srez_config.Damage.parse(text) == parsed
    assert str(parsed) == text


@pytest.mark.parametrize('text', ['jpeg', 'jpeg:0', 'jpeg:7.5', 'blur:-1', 'noise:x',
                                  'blur:1+blur:2', 'rain:3', ''])
def test_bad_damages_say_what_is_wrong(text):
    with pytest.raises(ValueError, match='is not a damage|takes'):
        srez_config.Damage.parse(text)


def test_fixed_damage_is_the_same_every_time_and_does_what_it_names():
    _, truth = face_and_truth()
    clean = srez_damage.apply(truth, srez_config.Damage(), [0, 0]).numpy()
    noisy = srez_config.Damage(noise=4)
    first, again, other = (srez_damage.apply(truth, noisy, seed).numpy()
                           for seed in ([0, 1], [0, 1], [0, 2]))
    blurred = srez_damage.apply(truth, srez_config.Damage(blur=1.2), [0, 0]).numpy()

    np.testing.assert_allclose(clean, tf.image.resize(truth, [16, 16], method='area'), atol=1e-6)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0
    assert (first - clean).std() == pytest.approx(4 / 255, rel=0.2)
    # Blur before the downscale: the input is smoother than the clean one.
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(clean, axis=1)).mean()


def test_eval_damage_is_reproducible_and_recorded(trained_model, tmp_path, srez_cli):
    figures = []
    for run in ('first', 'second'):
        status = srez_cli('--run', 'eval', '--checkpoint_dir', str(trained_model / 'checkpoint'),
                          '--dataset', 'synthetic', '--test_vectors', '4', '--damage',
                          'noise:6+jpeg:60', '--eval_dir', str(tmp_path / run))
        assert status == 0
        figures.append(json.loads((tmp_path / run / 'eval.json').read_text()))

    assert figures[0]['damage'] == 'noise:6+jpeg:60'
    assert figures[0]['model'] == figures[1]['model']
    assert figures[0]['bicubic'] == figures[1]['bicubic']


def test_a_share_of_faces_becomes_black_and_white_truth_and_input():
    face, _ = face_and_truth()
    every = srez_config.DamageConfig(damage_grey=1.0, damage_clean=0.0)
    for seed in range(4):
        inputs, truth, _ = srez_damage.training_pair(face, 64, every, [seed, 2])
        for image in (inputs.numpy(), truth.numpy()):
            np.testing.assert_allclose(image[..., 0], image[..., 2], atol=1e-6)
        expected = np.asarray(face_and_truth()[1]) @ srez_pixels.LUMA
        np.testing.assert_allclose(truth[..., 0], expected, atol=1e-5)
    half = srez_config.DamageConfig(damage_grey=0.5)
    grey = [np.ptp(srez_damage.training_pair(face, 64, half, [seed, 5])[1], axis=-1).max() < 1e-6
            for seed in range(60)]
    assert 0.3 < np.mean(grey) < 0.7
    colour = srez_damage.training_pair(face, 64, srez_config.DamageConfig(), [0, 5])[1]
    assert np.ptp(colour, axis=-1).max() > 0.05  # None by default.
