"""srez_model: network shapes and sizes, initialisation, the generator's options, and losses."""
import math

import numpy as np
import pytest
import tensorflow as tf

import srez_config
import srez_images
import srez_model


def model(gene_units=(8, 8, 8), disc_units=(8, 8), **options):
    return srez_config.ModelConfig(gene_units=gene_units, disc_units=disc_units, **options)


def conv_parameters(mapsize, in_units, out_units):
    return mapsize * mapsize * in_units * out_units + out_units


def test_generator_at_default_widths():
    generator = srez_model.Generator(srez_config.ModelConfig())
    output = generator(tf.random.uniform([2, 16, 16, 3]), training=False)
    assert output.shape == (2, 64, 64, 3) and output.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(output)) and float(tf.reduce_max(output)) <= 1.0
    # Counted by hand from the srez architecture: per stage two residual blocks (projection
    # when the width changes; two BN offsets and two 3x3 convs each), then BN + 3x3 conv.
    stage1 = (conv_parameters(1, 3, 256) + 2 * (2 * 256 + 2 * conv_parameters(3, 256, 256))
              + 256 + conv_parameters(3, 256, 256))
    stage2 = (conv_parameters(1, 256, 128) + 2 * (2 * 128 + 2 * conv_parameters(3, 128, 128))
              + 128 + conv_parameters(3, 128, 128))
    final = conv_parameters(3, 128, 96) + conv_parameters(1, 96, 96) + conv_parameters(1, 96, 3)
    count = sum(int(np.prod(v.shape)) for v in generator.trainable_variables)
    assert count == stage1 + stage2 + final == 3_844_451


def test_generator_is_fully_convolutional():
    output = srez_model.Generator(model())(tf.zeros([1, 10, 6, 3]), training=False)
    assert output.shape == (1, 40, 24, 3)


def test_residual_generator_starts_as_a_bilinear_upscale_and_learns_from_there():
    generator = srez_model.Generator(model(gene_residual=True))
    images = tf.random.uniform([2, 12, 10, 3], seed=3)
    bilinear = tf.image.resize(images, [48, 40], method='bilinear')
    with tf.GradientTape() as tape:
        output = generator(images, training=True)
        loss = tf.reduce_mean(tf.abs(output - tf.random.uniform(output.shape, seed=4)))
    np.testing.assert_allclose(output, tf.clip_by_value(bilinear, 1e-3, 1 - 1e-3), atol=1e-5)
    last_kernel = generator.layers[-1].kernel
    assert float(tf.reduce_max(tf.abs(tape.gradient(loss, last_kernel)))) > 0


def test_discriminator_at_default_widths():
    discriminator = srez_model.Discriminator(srez_config.ModelConfig())
    logits = discriminator(tf.random.uniform([2, 64, 64, 3]), training=False)
    assert logits.shape == (2, 1) and logits.dtype == tf.float32
    widths = [3, 64, 128, 256, 512]
    strided = sum(conv_parameters(3, a, b) + b for a, b in zip(widths, widths[1:]))
    final = (conv_parameters(3, 512, 512) + 512 + conv_parameters(1, 512, 512) + 512
             + conv_parameters(1, 512, 1))
    count = sum(int(np.prod(v.shape)) for v in discriminator.trainable_variables)
    assert count == strided + final == 4_175_937


def conv_flops(mapsize, in_units, out_units, side):
    return 2 * mapsize * mapsize * in_units * out_units * side * side


def test_flops_per_image_match_a_hand_count():
    generator = srez_model.Generator(model(gene_units=(8, 8, 4)))
    discriminator = srez_model.Discriminator(model(disc_units=(8, 16)))
    # Generator on 16x16: stage 1 at 16 (1x1 projection, two blocks of two 3x3 convs), upscale,
    # 3x3 at 32; stage 2 at 32 (four 3x3), upscale, 3x3 at 64; then 3x3 8->4, 1x1 4->4, 1x1 4->3.
    generator_flops = (conv_flops(1, 3, 8, 16) + 4 * conv_flops(3, 8, 8, 16)
                       + conv_flops(3, 8, 8, 32) + 4 * conv_flops(3, 8, 8, 32)
                       + conv_flops(3, 8, 8, 64) + conv_flops(3, 8, 4, 64)
                       + conv_flops(1, 4, 4, 64) + conv_flops(1, 4, 3, 64))
    # Discriminator on 64x64: stride-2 3x3 to 32 and to 16, then 3x3, 1x1 and 1x1 to one score.
    discriminator_flops = (conv_flops(3, 3, 8, 32) + conv_flops(3, 8, 16, 16)
                           + conv_flops(3, 16, 16, 16) + conv_flops(1, 16, 16, 16)
                           + conv_flops(1, 16, 1, 16))
    assert generator.flops(16, 16) == (generator_flops, 64, 64)
    assert discriminator.flops(64, 64) == (discriminator_flops, 16, 16)


def test_initializer_scale_follows_srez():
    # truncated_normal is cut at 2 stddev, which leaves 0.8796 of the stddev.
    conv = srez_model.Conv2D(tf.random.Generator.from_seed(0), 64, 256, 3, init_factor=2.0)
    expected = math.sqrt(2.0 / (math.sqrt(64 * 256) * 9)) * 0.8796
    assert float(tf.math.reduce_std(conv.kernel)) == pytest.approx(expected, rel=0.02)
    assert float(tf.reduce_max(tf.abs(conv.bias))) == 0.0


def test_same_seed_same_weights():
    first, second = srez_model.Generator(model(), seed=3), srez_model.Generator(model(), seed=3)
    for a, b in zip(first.variables, second.variables):
        np.testing.assert_array_equal(a, b)


def test_generator_loss_as_specified():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=[4, 1]).astype(np.float32)
    output = rng.uniform(size=[4, 8, 8, 3]).astype(np.float32)
    clean = rng.uniform(size=[4, 2, 2, 3]).astype(np.float32)
    truth = rng.uniform(size=[4, 8, 8, 3]).astype(np.float32)
    total, l1 = srez_model.generator_loss(output, clean, truth, logits, l1_factor=0.9)
    adversarial = np.mean(np.log1p(np.exp(-logits)))  # CE with label 1
    box4 = output.reshape(4, 2, 4, 2, 4, 3).mean(axis=(2, 4))
    expected_l1 = np.mean(np.abs(box4 - clean))
    assert float(l1) == pytest.approx(expected_l1, rel=1e-5)
    assert float(total) == pytest.approx(0.1 * adversarial + 0.9 * expected_l1, rel=1e-5)
    # The content term adds the full-resolution L1 against the truth; the downscaled L1 it
    # reports is still srez's own term.
    with_content, l1 = srez_model.generator_loss(output, clean, truth, logits, 0.9,
                                                 content_factor=2.0)
    assert float(with_content) == pytest.approx(
        float(total) + 2.0 * np.mean(np.abs(output - truth)), rel=1e-5)
    assert float(l1) == pytest.approx(expected_l1, rel=1e-5)
    # The gradient term: the mean squared distance between the forward-difference gradient
    # magnitudes.
    def magnitudes(images):
        dx = np.zeros_like(images)
        dy = np.zeros_like(images)
        dx[:, :, :-1] = images[:, :, 1:] - images[:, :, :-1]
        dy[:, :-1] = images[:, 1:] - images[:, :-1]
        return np.sqrt(dx ** 2 + dy ** 2)

    with_gradient, _ = srez_model.generator_loss(output, clean, truth, logits, 0.9,
                                                 gradient_factor=3.0)
    assert float(with_gradient) == pytest.approx(
        float(total) + 3.0 * np.mean((magnitudes(output) - magnitudes(truth)) ** 2), rel=1e-4)
    # Without the discriminator's logits, the adversarial term is gone.
    regression, _ = srez_model.generator_loss(output, clean, truth, None, 1.0, content_factor=2.0)
    assert float(regression) == pytest.approx(
        expected_l1 + 2.0 * np.mean(np.abs(output - truth)), rel=1e-5)


def test_pixel_shuffle_upscale_starts_as_nearest_upscale_and_convolution():
    rng = tf.random.Generator.from_seed(5)
    shuffle = srez_model.PixelShuffle(rng, 4, 6)
    plain = srez_model.Conv2D(tf.random.Generator.from_seed(5), 4, 6, mapsize=3)
    images = tf.random.uniform([2, 5, 7, 4], seed=6)
    np.testing.assert_allclose(shuffle(images, True),
                               plain(srez_images.nearest_upscale(images), True), atol=1e-5)
    assert shuffle.flops(5, 7) == plain.flops(10, 14)
    # So the whole generator starts as srez's, and costs the same; its upscales then learn each
    # sub-pixel on its own.
    inputs = tf.random.uniform([2, 12, 10, 3], seed=7)
    original = srez_model.Generator(model(gene_units=(16, 8, 8)), seed=3)
    shuffling = srez_model.Generator(model(gene_units=(16, 8, 8), gene_pixel_shuffle=True),
                                     seed=3)
    np.testing.assert_allclose(shuffling(inputs, True), original(inputs, True), atol=1e-5)
    assert shuffling.flops(12, 10) == original.flops(12, 10)
    assert shuffling.layers[4].kernel.shape == (3, 3, 16, 4 * 16)


def test_discriminator_loss_as_specified():
    real, fake = np.float32([[2.0], [-1.0]]), np.float32([[0.5], [3.0]])
    real_loss, fake_loss = srez_model.discriminator_loss(real, fake)
    assert float(real_loss) == pytest.approx(np.mean(np.log1p(np.exp(-real))), rel=1e-5)
    assert float(fake_loss) == pytest.approx(np.mean(np.log1p(np.exp(fake))), rel=1e-5)


def test_batch_norm_moving_averages_are_debiased():
    norm = srez_model.BatchNorm(2)
    x = tf.constant([[[[1.0, 10.0]], [[3.0, 14.0]]]])  # mean (2, 12), variance (1, 4)
    norm(x, training=True)
    inference = norm(x, training=False)
    # One update already gives the batch statistics back, not 1% of them.
    np.testing.assert_allclose(inference[0, :, 0, :], [[-1, -1], [1, 1]], atol=2e-3)


def test_gene_blocks_sets_the_residual_blocks_of_each_stage():
    default = srez_model.Generator(model())
    deeper = srez_model.Generator(model(gene_blocks=(4, 1)))
    kinds = [type(layer).__name__ for layer in deeper.layers]
    # Four blocks at the input's size, an upscale, then one block at twice it.
    assert kinds[:4] == ['ResidualBlock'] * 4 and kinds[4] != 'ResidualBlock'
    assert kinds.count('ResidualBlock') == 5
    assert [type(layer).__name__ for layer in default.layers].count('ResidualBlock') == 4
    block = srez_model.ResidualBlock(tf.random.Generator.from_seed(0), 8, 8)
    assert deeper.flops(16, 16)[0] == (default.flops(16, 16)[0] + 2 * block.flops(16, 16)[0]
                                       - block.flops(32, 32)[0])
    assert deeper(tf.zeros([1, 16, 16, 3]), training=False).shape == (1, 64, 64, 3)


def test_the_losses_leave_out_what_is_not_the_pictures_own():
    rng = np.random.default_rng(0)
    output, truth = (tf.constant(rng.uniform(size=(2, 64, 64, 3)), tf.float32) for _ in range(2))
    valid = np.ones((2, 64, 64, 1), np.float32)
    valid[:, :, :20] = 0  # A frame's fill, which srez_align marks.
    changed = output.numpy()
    changed[:, :, :20] = rng.uniform(size=(2, 64, 20, 3))  # The output differs only there.
    clean_input = srez_images.box_downscale(truth)

    def losses(images, weights):
        return [float(value) for value in srez_model.generator_loss(
            images, clean_input, truth, None, l1_factor=0.9, content_factor=4.0,
            gradient_factor=100.0, valid=weights)]

    # Columns 0-19 are whole 4x4 blocks of the L1 term, and each pixel's gradient looks right
    # and down: what the output has there does not count.
    np.testing.assert_allclose(losses(output, valid), losses(changed, valid), rtol=1e-3)
    assert losses(output, None) != pytest.approx(losses(changed, None), rel=1e-3)
    np.testing.assert_allclose(losses(output, np.ones_like(valid)), losses(output, None),
                               rtol=1e-6)
