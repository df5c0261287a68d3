"""Tests for srez_infer and --run infer: upscaling image files with a trained generator."""

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import MAIN
from PIL import Image

import srez_files
import srez_pixels
import srez_infer
import srez_upscaler


def noise(height, width, channels=3, seed=0):
    """uint8 [height, width, channels] of random pixels (squeezed for one channel)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)
    return pixels[..., 0] if channels == 1 else pixels


def save(path, pixels):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def read(path):
    return np.asarray(Image.open(path))


def upscale(generator, input_path, output_dir, batch_size=16, **options):
    """--run infer --faces off's work: srez_infer.upscale_files on what find_inputs finds, each
    image upscaled whole (tests/test_faces.py tests the faces of photos)."""
    root, paths = srez_infer.find_inputs(str(input_path), str(output_dir))
    upscaler = srez_upscaler.Upscaler.from_generator(generator, None, batch_size)
    return srez_infer.upscale_files(upscaler, root, paths, str(output_dir),
                                    **dict(dict(faces='off'), **options))


def test_folder_keeps_relative_paths_and_stems_as_4x_pngs(tmp_path, generator):
    inputs, outputs = tmp_path / 'in', tmp_path / 'out'
    save(str(inputs / 'a.jpg'), noise(16, 16))
    save(str(inputs / 'sub' / 'b.png'), noise(12, 20, seed=1))
    (inputs / 'notes.txt').write_text('not an image')

    summary = upscale(generator, str(inputs), str(outputs), compare=True)

    assert summary.failed == []
    assert sorted(str(path.relative_to(outputs)) for path in outputs.rglob('*')) == [
        'a.png', 'a_compare.png', 'sub', 'sub/b.png', 'sub/b_compare.png']
    assert read(outputs / 'a.png').shape == (64, 64, 3)
    assert read(outputs / 'sub' / 'b.png').shape == (48, 80, 3)
    # Side by side: the input nearest-upscaled, bicubic, then the output itself.
    compare = read(outputs / 'sub' / 'b_compare.png')
    assert compare.shape == (48, 240, 3)
    nearest = np.repeat(np.repeat(read(inputs / 'sub' / 'b.png'), 4, 0), 4, 1)
    np.testing.assert_array_equal(compare[:, :80], nearest)
    np.testing.assert_array_equal(compare[:, 160:], read(outputs / 'sub' / 'b.png'))


def test_single_file(tmp_path, generator):
    path = save(str(tmp_path / 'face.png'), noise(16, 16))

    summary = upscale(generator, path, tmp_path / 'out')

    assert summary.written == [str(tmp_path / 'out' / 'face.png')]
    assert os.listdir(tmp_path / 'out') == ['face.png']


def test_batched_images_equal_one_at_a_time(tmp_path, generator):
    for index in range(3):
        save(str(tmp_path / 'in' / f'{index}.png'), noise(16, 16, seed=index))

    upscale(generator, str(tmp_path / 'in'), str(tmp_path / 'batched'))
    upscale(generator, str(tmp_path / 'in'), str(tmp_path / 'single'), batch_size=1)

    for index in range(3):
        np.testing.assert_array_equal(read(tmp_path / 'batched' / f'{index}.png'),
                                      read(tmp_path / 'single' / f'{index}.png'))


def test_grey_palette_and_alpha_inputs(tmp_path, generator):
    inputs, outputs = tmp_path / 'in', tmp_path / 'out'
    grey = noise(16, 16, channels=1)
    save(str(inputs / 'grey.png'), grey)
    save(str(inputs / 'rgb.png'), np.stack([grey] * 3, axis=-1))
    rgba = noise(16, 16, channels=4, seed=3)
    save(str(inputs / 'rgba.png'), rgba)
    palette = Image.fromarray(noise(16, 16, seed=4)).quantize(8)
    palette.info['transparency'] = 0
    palette.save(inputs / 'palette.png')

    summary = upscale(generator, str(inputs), str(outputs))

    assert summary.failed == []
    # A grey image stays grey: the luminance of the RGB image with three equal channels.
    with Image.open(outputs / 'grey.png') as grey_output:
        assert grey_output.mode == 'L'
    rgb = read(outputs / 'rgb.png').astype(float)
    np.testing.assert_array_equal(read(outputs / 'grey.png'),
                                  np.round(rgb @ srez_pixels.LUMA).astype(np.uint8))
    upscaled = read(outputs / 'rgba.png')
    assert upscaled.shape == (64, 64, 4)
    np.testing.assert_array_equal(upscaled[..., 3:],
                                  srez_pixels.bicubic_upscale(rgba[np.newaxis, ..., 3:])[0])
    # The colours do not depend on the alpha channel.
    save(str(tmp_path / 'opaque' / 'rgba.png'), rgba[..., :3])
    upscale(generator, str(tmp_path / 'opaque'), str(tmp_path / 'opaque_out'))
    np.testing.assert_array_equal(upscaled[..., :3], read(tmp_path / 'opaque_out' / 'rgba.png'))
    assert read(outputs / 'palette.png').shape == (64, 64, 4)


def test_unreadable_files_are_skipped_reported_and_the_rest_written(tmp_path, generator):
    inputs, outputs = tmp_path / 'in', tmp_path / 'out'
    save(str(inputs / 'a.png'), noise(16, 16))
    (inputs / 'b_garbage.jpg').write_bytes(b'not a JPEG')
    truncated = save(str(inputs / 'c_truncated.jpg'), noise(16, 16))
    with open(truncated, 'r+b') as file:
        file.truncate(os.path.getsize(truncated) - 10)
    # A sound header over damaged pixel data: found only when decoding.
    damaged = save(str(inputs / 'd_damaged.png'), noise(16, 16))
    with open(damaged, 'r+b') as file:
        file.seek(60)
        file.write(b'\0' * 40)
    save(str(inputs / 'e.png'), noise(16, 16, seed=1))

    summary = upscale(generator, str(inputs), str(outputs))

    assert sorted(os.listdir(outputs)) == ['a.png', 'e.png']
    # Each with its reason: the dataset scan's, or the decoder's for the damaged one.
    scanned = srez_files.scan_images([str(inputs / 'b_garbage.jpg'),
                                      str(inputs / 'c_truncated.jpg')]).skipped
    assert len(scanned) == 2
    assert summary.failed == scanned + [(str(inputs / 'd_damaged.png'), 'cannot be decoded')]


def test_nothing_is_written_outside_output(tmp_path, generator):
    inputs, outputs, elsewhere = tmp_path / 'in', tmp_path / 'out', tmp_path / 'elsewhere'
    save(str(inputs / 'sub' / 'a.png'), noise(16, 16))
    save(str(inputs / 'b.png'), noise(16, 16))
    elsewhere.mkdir()
    outputs.mkdir()
    os.symlink(elsewhere, outputs / 'sub')

    summary = upscale(generator, str(inputs), str(outputs))

    assert os.listdir(elsewhere) == []
    assert summary.written == [str(outputs / 'b.png')]
    assert 'outside' in dict(summary.failed)[str(inputs / 'sub' / 'a.png')]
    with pytest.raises(ValueError, match='inside --input'):
        upscale(generator, str(inputs), str(inputs / 'upscaled'))
    # A single file is never overwritten by its own output.
    summary = upscale(generator, str(inputs / 'b.png'), str(inputs))
    assert summary.written == [] and 'overwrite' in summary.failed[0][1]


def test_inputs_sharing_a_stem_are_not_overwritten(tmp_path, generator):
    save(str(tmp_path / 'in' / 'a.jpg'), noise(16, 16))
    save(str(tmp_path / 'in' / 'a.png'), noise(16, 16, seed=1))

    summary = upscale(generator, str(tmp_path / 'in'), str(tmp_path / 'out'))

    assert summary.written == [str(tmp_path / 'out' / 'a.png')]
    assert summary.failed == [(str(tmp_path / 'in' / 'a.png'),
                               f"its output name is taken by {tmp_path / 'in' / 'a.jpg'}; "
                               f'rename one of them')]


def test_cli_exit_status_says_whether_any_failed(tmp_path, trained_model, srez_cli, capsys):
    save(str(tmp_path / 'in' / 'a.png'), noise(16, 16))
    save(str(tmp_path / 'in' / 'b.png'), noise(16, 16))
    common = ['--run', 'infer', '--input', str(tmp_path / 'in'), '--output', str(tmp_path / 'out'),
              '--checkpoint_dir', str(trained_model / 'checkpoint')]

    assert srez_cli(*common, '--max_images', '1') == 0
    assert os.listdir(tmp_path / 'out') == ['a.png']
    assert srez_cli(*common) == 0
    (tmp_path / 'in' / 'bad.png').write_bytes(b'')
    assert srez_cli(*common) == 1
    assert f"srez: skipped {tmp_path / 'in' / 'bad.png'}" in capsys.readouterr().err
    assert os.path.exists(tmp_path / 'out' / 'a.png')


def test_a_run_whose_every_file_fails_says_so_and_writes_nothing(tmp_path, trained_model,
                                                                 srez_cli, capsys):
    (tmp_path / 'in').mkdir()
    for name in ('a.png', 'b.jpg'):
        (tmp_path / 'in' / name).write_bytes(b'')
    assert srez_cli('--run', 'infer', '--input', str(tmp_path / 'in'), '--output',
                    str(tmp_path / 'out'), '--checkpoint_dir',
                    str(trained_model / 'checkpoint')) == 1
    output = capsys.readouterr()
    assert 'Wrote' not in output.out
    assert output.err.strip().splitlines()[-1] == ('srez: no image was upscaled: all 2 failed, '
                                                   'and nothing was written.')
    assert not os.path.exists(tmp_path / 'out')


def test_a_photo_too_big_for_the_memory_free_is_one_line_and_the_run_goes_on(
        tmp_path, trained_model, srez_cli, capsys, monkeypatch):
    save(str(tmp_path / 'in' / 'a_big.png'), noise(40, 50))
    save(str(tmp_path / 'in' / 'b_small.png'), noise(16, 16))
    # 40x50 upscales to 160x200x3 bytes; leave less free than that and srez_infer.WORKING_BYTES.
    monkeypatch.setattr(srez_infer, '_free_memory', lambda: srez_infer.WORKING_BYTES + 1000)
    assert srez_cli('--run', 'infer', '--input', str(tmp_path / 'in'), '--output',
                    str(tmp_path / 'out'), '--checkpoint_dir',
                    str(trained_model / 'checkpoint')) == 1
    error = capsys.readouterr().err
    assert (f"srez: skipped {tmp_path / 'in' / 'a_big.png'}: too big for the memory free: its "
            f"200x160 upscale needs 1.0 GB, and 1.0 GB is free") in error
    assert os.listdir(tmp_path / 'out') == ['b_small.png']


@pytest.mark.slow
def test_a_6000x4000_photo_peaks_under_its_output_and_1_5_gb(tmp_path, monkeypatch):
    # A photo of smooth colour and fine noise, through the real CLI in its own process, which
    # reports its peak memory (resident set) as it exits.
    rows, columns = np.mgrid[0:4000, 0:6000]
    photo = np.stack([rows / 16, columns / 24, (rows + columns) / 40], -1) % 256
    photo = (photo + np.random.default_rng(0).integers(0, 8, photo.shape)).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / 'big.jpg', quality=90)
    del photo, rows, columns
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
    report = ('import atexit, os, runpy, sys; atexit.register(lambda: print("PEAK", [int(line.split()'
              '[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM")][0], '
              'file=sys.stderr)); sys.argv = sys.argv[1:]; sys.path.insert(0, os.path.dirname('
              'sys.argv[0])); runpy.run_path(sys.argv[0], run_name="__main__")')
    result = subprocess.run([sys.executable, '-c', report, MAIN, '--run', 'infer', '--input',
                             'big.jpg'], cwd=tmp_path, capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, result.stderr
    peak = int(result.stderr.split('PEAK')[-1])
    output_bytes = 24000 * 16000 * 3
    assert peak <= output_bytes + 1.5 * 2 ** 30, (peak / 2 ** 30, result.stdout)
    # Pillow refuses to open an image this large unless told that it is expected.
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', None)
    with Image.open(tmp_path / 'upscaled' / 'big.png') as upscaled:
        assert upscaled.size == (24000, 16000)
