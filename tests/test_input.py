"""srez_input: finding and scanning images (every kind of bad file), the crop/resize arithmetic,
what a run trains on, and the pipeline."""
import os
import subprocess
import tempfile

import numpy as np
import pytest
import tensorflow as tf
from helpers import as_ordinary_user, write_face_images
from image_files import DATA_CASES, corrupt_pixels_jpeg, write_face, zero_byte_file
from PIL import Image

import srez_files
import srez_input


@pytest.mark.parametrize('case', DATA_CASES)
def test_dataset_file_is_used_or_skipped_with_its_reason(tmp_path, case):
    make, reason = DATA_CASES[case]
    path = str(make(tmp_path))

    scan = srez_files.scan_images([path])

    if reason:
        assert scan.skipped == [(path, reason)] and not scan.usable
    else:
        # Usable means the pipeline turns it into a face box with Pillow's colours.
        assert scan.usable == [path] and not scan.skipped
        image = srez_input.load_file(tf.constant(path)).numpy()
        expected = np.asarray(Image.open(path).convert('RGBA'))
        assert np.abs(image.astype(int) - expected).mean() < 3
        assert srez_input.face_box(image).shape == (144, 144, 4)


def test_unreadable_file_is_skipped():
    # Root reads every file, so the scan runs with the rights of an ordinary user.
    folder = tempfile.mkdtemp()
    try:
        os.chmod(folder, 0o755)
        good, secret = write_face(f'{folder}/good.jpg'), write_face(f'{folder}/secret.jpg')
        os.chmod(secret, 0)
        with as_ordinary_user():
            scan = srez_files.scan_images([good, secret])
        assert scan.usable == [good]
        assert scan.skipped == [(secret, 'permission denied')]
    finally:
        subprocess.run(['rm', '-rf', folder], check=True)


def test_symlinks_are_followed_and_broken_ones_skipped(tmp_path):
    data, elsewhere = tmp_path / 'data', tmp_path / 'elsewhere'
    data.mkdir()
    elsewhere.mkdir()
    target = write_face(elsewhere / 'face.jpg')
    (data / 'link.jpg').symlink_to(target)
    (data / 'broken.jpg').symlink_to(tmp_path / 'gone.jpg')
    (data / 'loop.jpg').symlink_to(data / 'loop.jpg')
    (data / 'linked_folder').symlink_to(elsewhere)
    (elsewhere / 'back').symlink_to(data)  # A folder loop: walked once, not forever.

    paths = srez_files.find_images(str(data))
    scan = srez_files.scan_images(paths)

    names = lambda pairs: sorted(os.path.relpath(p, data) for p in pairs)
    assert names(paths) == ['broken.jpg', 'link.jpg', 'linked_folder/face.jpg', 'loop.jpg']
    assert names(scan.usable) == ['link.jpg', 'linked_folder/face.jpg']
    assert dict((os.path.basename(p), why) for p, why in scan.skipped) == {
        'broken.jpg': 'missing (broken link?)',
        'loop.jpg': 'not a readable image (Too many levels of symbolic links)'}


def test_non_image_files_are_ignored(tmp_path):
    face_path = write_face(tmp_path / 'face.JPG')
    for name in ('README.txt', 'labels.csv', '.DS_Store', 'clip.gif', 'Thumbs.db'):
        (tmp_path / name).write_bytes(b'\x00' * 10)
    (tmp_path / 'folder.png').mkdir()

    assert srez_files.find_images(str(tmp_path)) == [face_path]


def test_corrupt_test_vector_is_replaced_and_reported(tmp_path):
    goods = [write_face(tmp_path / f'good{i}.jpg') for i in range(4)]
    corrupt = str(corrupt_pixels_jpeg(tmp_path))
    assert srez_files.scan_images([corrupt]).usable  # Its header and end marker look fine.
    # A seed whose shuffle draws the corrupt file as a test vector.
    seed = next(seed for seed in range(100)
                if corrupt in srez_input.split_train_test(goods + [corrupt], 2, seed)[1])
    lines = []

    data = srez_input.training_data(str(tmp_path), test_vectors=2, seed=seed, log=lines.append)

    assert len(data.test_keys) == 2 and corrupt not in data.test_keys + data.train_keys
    assert sorted(data.test_keys + data.train_keys) == goods
    assert lines[0] == ('Skipping 1 of 5 image files that cannot be used: corrupt.jpg (corrupt '
                        'image data).')


def test_too_few_usable_images_is_a_one_line_error(tmp_path):
    write_face(tmp_path / 'a.jpg')
    write_face(tmp_path / 'b.png')
    zero_byte_file(tmp_path)
    lines = []

    with pytest.raises(ValueError) as error:
        srez_input.training_data(str(tmp_path), test_vectors=2, seed=0, log=lines.append)

    assert str(error.value) == (f'--dataset {tmp_path} has 2 usable images; it needs at least '
                                f'--test_vectors + 1 = 3.')
    assert lines == ['Skipping 1 of 3 image files that cannot be used: empty.jpg (empty file).']




def marked_image(height=218, width=178, x=25, y=60):
    """A black image with a white pixel at (x, y): where it lands shows where a crop was taken."""
    image = np.zeros([height, width, 3], np.uint8)
    image[y, x] = 255
    return tf.constant(image)


def test_face_box_is_the_144_box_at_17_52():
    box = srez_input.face_box(marked_image(x=25, y=60)).numpy()
    assert box.shape == (144, 144, 3)
    # (25, 60), the face box's corner, is 8 px of jitter in from the box's corner.
    assert tuple(np.argwhere(box[..., 0] == 255)[0]) == (8, 8)


def test_centre_crop_is_the_128_box_at_25_60():
    face = srez_input.centre_crop(srez_input.face_box(marked_image(x=25, y=60))).numpy()
    assert face.shape == (128, 128, 3) and face.dtype == np.float32
    assert face[0, 0, 0] == 1.0 and face.sum() == 3.0


def test_other_sizes_are_resized_to_the_celeba_frame():
    # A 356x436 image (twice CelebA) whose face box is marked: the box lands at the same place.
    image = np.zeros([436, 356, 3], np.uint8)
    image[120:376, 50:306] = 200  # The 128-box at (25, 60), scaled by 2.
    face = srez_input.centre_crop(srez_input.face_box(tf.constant(image))).numpy()
    assert face.shape == (128, 128, 3)
    assert face[2:-2, 2:-2].min() > 0.7 and face.mean() > 0.7
    # Another aspect ratio (square) is centre-cropped to CelebA's aspect first: no error, right size.
    assert srez_input.face_box(tf.zeros([300, 300, 3], tf.uint8)).shape == (144, 144, 3)
    assert srez_input.face_box(tf.zeros([40, 30, 3], tf.uint8)).shape == (144, 144, 3)


def test_training_pair_sizes_and_area_resize():
    faces = tf.random.uniform([2, 128, 128, 3], seed=2)
    for sample_size in (64, 96, 128):
        inputs, truth = srez_input.to_training_pair(faces, sample_size)
        assert truth.shape == (2, sample_size, sample_size, 3)
        assert inputs.shape == (2, sample_size // 4, sample_size // 4, 3)
    inputs, truth = srez_input.to_training_pair(faces, 64)
    # 128 -> 64 -> 16 by area is the 8x8 block average of the face.
    blocks = faces.numpy().reshape(2, 16, 8, 16, 8, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(inputs, blocks, atol=1e-5)


def test_augment_keeps_range_and_varies_with_seed():
    box = srez_input.face_box(tf.constant(
        np.random.default_rng(0).integers(0, 256, [218, 178, 3], dtype=np.uint8)))
    first = srez_input.augment(box, tf.constant([1, 2], tf.int64))
    again = srez_input.augment(box, tf.constant([1, 2], tf.int64))
    other = srez_input.augment(box, tf.constant([3, 4], tf.int64))
    assert first.shape == (128, 128, 3)
    assert 0.0 <= float(tf.reduce_min(first)) and float(tf.reduce_max(first)) <= 1.0
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_find_images_recursive_any_case_sorted(tmp_path):
    (tmp_path / 'img_align_celeba' / 'sub').mkdir(parents=True)
    for name in ['b.JPG', 'a.jpeg', 'sub/c.Png', 'notes.txt', 'sub/d.gif']:
        (tmp_path / 'img_align_celeba' / name).write_bytes(b'x')
    found = [os.path.relpath(p, tmp_path) for p in srez_files.find_images(str(tmp_path))]
    assert found == ['img_align_celeba/a.jpeg', 'img_align_celeba/b.JPG',
                     'img_align_celeba/sub/c.Png']


def test_split_is_seeded_and_holds_out_the_last(tmp_path):
    paths = [f'{i:03d}.jpg' for i in range(20)]
    train, test = srez_input.split_train_test(paths, 4, seed=0)
    assert len(train) == 16 and len(test) == 4 and set(train) | set(test) == set(paths)
    assert (train, test) == srez_input.split_train_test(list(reversed(paths)), 4, seed=0)
    assert test != srez_input.split_train_test(paths, 4, seed=1)[1]


def test_training_dataset_batches(tmp_path):
    paths = write_face_images(str(tmp_path), 6)
    dataset = srez_input.training_dataset([srez_input.KeyGroup(paths)], srez_input.load_file,
                                          batch_size=4, sample_size=64, seed=0)
    for inputs, truth, valid in dataset.take(3):  # More batches than images: it repeats.
        assert inputs.shape == (4, 16, 16, 3) and truth.shape == (4, 64, 64, 3)
        assert inputs.dtype == tf.float32 and float(tf.reduce_max(truth)) <= 1.0
        np.testing.assert_array_equal(valid, np.ones((4, 64, 64, 1)))  # JPEGs have no fill.


def test_cached_dataset_matches_shapes(tmp_path):
    paths = write_face_images(str(tmp_path / 'images'), 5)
    dataset = srez_input.training_dataset(
        [srez_input.KeyGroup(paths)], srez_input.load_file, batch_size=2, sample_size=64, seed=0,
        cache=True, cache_file=str(tmp_path / 'faces.cache'))
    batches = list(dataset.take(6))
    assert all(truth.shape == (2, 64, 64, 3) for _, truth, _ in batches)
    assert any(name.startswith('faces.cache') for name in os.listdir(tmp_path))


def test_test_pairs_are_centred_and_fixed(tmp_path):
    paths = write_face_images(str(tmp_path), 3)
    inputs, truth, _ = srez_input.test_pairs(paths, srez_input.load_file, 64)
    again = srez_input.test_pairs(paths, srez_input.load_file, 64)
    assert inputs.shape == (3, 16, 16, 3) and truth.shape == (3, 64, 64, 3)
    np.testing.assert_array_equal(truth, again[1])
    expected = np.asarray(Image.open(paths[0]), np.float32)[60:188, 25:153] / 255
    np.testing.assert_allclose(truth[0], expected.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3)),
                               atol=1e-5)


def flat_faces(folder, count, value):
    """Writes `count` PNG faces of one grey `value` into `folder`; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for index in range(count):
        paths.append(os.path.join(folder, f'{value}_{index}.png'))
        Image.new('RGB', (178, 218), (value,) * 3).save(paths[-1])
    return paths


def test_several_folders_train_together_each_drawn_by_its_weight(tmp_path):
    dark, bright = str(tmp_path / 'dark'), str(tmp_path / 'bright')
    flat_faces(dark, 6, 40)
    flat_faces(bright, 3, 200)
    lines = []
    data = srez_input.training_data(f'{dark},{bright}:4', test_vectors=2, seed=0,
                                    log=lines.append)
    assert [group.weight for group in data.train_groups] == [1, 4]
    assert sorted(data.train_keys + data.test_keys) == sorted(
        srez_files.find_images(dark) + srez_files.find_images(bright))
    assert f'images from {bright} (weight 4)' in lines[-1]
    dataset = srez_input.training_dataset(data.train_groups, data.load, 8, 64, seed=0)
    means = np.concatenate([truth.numpy().mean(axis=(1, 2, 3)) for _, truth, _ in dataset.take(40)])
    # Each image of bright is drawn 4 times as often as each of dark.
    counts = [len(group.keys) for group in data.train_groups]
    expected = 4 * counts[1] / (counts[0] + 4 * counts[1])
    assert np.mean(means > 0.5) == pytest.approx(expected, abs=0.08)


def test_a_frames_fill_is_marked_invalid_through_the_pipeline(tmp_path):
    # A re-aligned face whose frame ran off its picture on the left: alpha 0 there (srez_align).
    pixels = np.full((218, 178, 4), 150, np.uint8)
    pixels[..., 3] = 255
    pixels[:, :89, 3] = 0
    Image.fromarray(pixels).save(tmp_path / 'tight.png')
    path = str(tmp_path / 'tight.png')
    valid = srez_input.test_pairs([path], srez_input.load_file, 64).valid[0, ..., 0]
    # The 128 box starts at x=25: its first 64 columns are fill, the rest picture (area-resized).
    np.testing.assert_array_equal(valid[:, :32], 0)
    np.testing.assert_array_equal(valid[:, 32:], 1)
    dataset = srez_input.training_dataset([srez_input.KeyGroup([path])], srez_input.load_file,
                                          4, 64, seed=0)
    for _, _, batch_valid in dataset.take(2):  # Jittered and flipped, still half fill.
        assert 0.4 < float(tf.reduce_mean(batch_valid)) < 0.6
