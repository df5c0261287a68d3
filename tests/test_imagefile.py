"""srez_imagefile and --run infer on pictures as people have them: phone orientation, every format
Pillow reads, 16-bit files, an --output that names a file."""
import os

import numpy as np
import pytest
from PIL import Image

import srez_imagefile
import srez_infer
import srez_upscaler

# EXIF orientation 6: the camera held turned, the picture stored sideways; shown, it is turned
# 90 degrees clockwise.
ORIENTATION, ROTATE_90_CLOCKWISE = 0x0112, 6


def picture(height=20, width=30, seed=0):
    """uint8 [height, width, 3]: smooth colours, so lossy formats stay near them."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    slopes = rng.uniform(-3, 3, (2, 3))
    colours = rng.uniform(40, 200, 3) + x[..., None] * slopes[0] + y[..., None] * slopes[1]
    return np.uint8(np.clip(colours, 0, 255))


def test_a_phone_photo_stored_sideways_is_read_upright(tmp_path):
    upright = picture()
    stored = Image.fromarray(np.rot90(upright, 1))  # The sensor's own orientation.
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_90_CLOCKWISE
    stored.save(tmp_path / 'phone.jpg', exif=exif, quality=98)
    pixels, bits = srez_imagefile.read_image(str(tmp_path / 'phone.jpg'))
    assert pixels.shape == upright.shape and bits == 8
    assert np.abs(pixels.astype(int) - upright).mean() < 3


@pytest.mark.parametrize('extension', ['.webp', '.bmp', '.tif', '.tga', '.ppm', '.gif'])
def test_every_format_pillow_reads_is_read(tmp_path, extension):
    assert extension in srez_imagefile.picture_extensions()
    path = str(tmp_path / f'picture{extension}')
    Image.fromarray(picture()).save(path, **({'lossless': True} if extension == '.webp' else {}))
    pixels, bits = srez_imagefile.read_image(path)
    assert pixels.shape[:2] == (20, 30) and bits == 8
    expected = np.asarray(Image.open(path).convert('RGB'))
    assert np.abs(pixels[..., :3].astype(int) - expected).max() <= 1


def test_videos_and_documents_are_not_pictures():
    extensions = srez_imagefile.picture_extensions()
    assert not {'.mpg', '.mpeg', '.pdf', '.eps'} & set(extensions)
    assert {'.jpg', '.png', '.webp', '.tif', '.bmp'} <= set(extensions)


def test_a_16_bit_picture_says_so_and_keeps_its_values_at_8_bits(tmp_path):
    grey = (np.arange(20 * 30).reshape(20, 30) * 100).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / 'scan.png')
    pixels, bits = srez_imagefile.read_image(str(tmp_path / 'scan.png'))
    assert bits == 16 and pixels.dtype == np.uint8 and pixels.shape == (20, 30, 1)
    np.testing.assert_array_equal(pixels[..., 0], np.round(grey / 257).astype(np.uint8))


def test_infer_reads_every_format_says_what_it_reduced_and_writes_a_named_file(
        tmp_path, srez_cli, capsys):
    folder = tmp_path / 'in'
    folder.mkdir()
    for extension in ('.webp', '.bmp', '.tif'):
        Image.fromarray(picture(seed=len(extension))).save(folder / f'a{extension[1:]}{extension}')
    Image.fromarray(np.full((20, 30), 40000, np.uint16)).save(folder / 'deep.png')
    assert srez_cli('--run', 'infer', '--input', str(folder), '--output',
                    str(tmp_path / 'out'), '--faces', 'off') == 0
    output = capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / 'out')) == ['abmp.png', 'atif.png', 'awebp.png',
                                                    'deep.png']
    assert (f'1 of them had more than 8 bits per channel (the first: {folder}/deep.png); srez '
            f'works at 8, and so are their upscales.') in output
    # One input and an --output that names a picture: that file, in its format.
    for name in ('single.png', 'single.jpg'):
        assert srez_cli('--run', 'infer', '--input', str(folder / 'abmp.bmp'), '--output',
                        str(tmp_path / 'named' / name), '--faces', 'off', '--compare') == 0
        with Image.open(tmp_path / 'named' / name) as written:
            assert written.size == (120, 80)
            assert written.format == ('PNG' if name.endswith('png') else 'JPEG')
    assert sorted(os.listdir(tmp_path / 'named')) == ['single.jpg', 'single.png',
                                                      'single_compare.png']
    assert f'Wrote 1 upscaled file to {tmp_path}/named/single.jpg.' in capsys.readouterr().out


def test_an_output_folder_named_like_a_picture_stays_a_folder_for_several_inputs(tmp_path):
    assert srez_infer.output_place(str(tmp_path), 'out.png') == ('out.png', None)
    (tmp_path / 'face.png').write_bytes(b'')
    assert srez_infer.output_place(str(tmp_path / 'face.png'), 'a/out.png') == ('a', 'out.png')
    assert srez_infer.output_place(str(tmp_path / 'face.png'), 'out') == ('out', None)


@pytest.fixture(scope='module')
def shipped():
    return srez_upscaler.Upscaler()


def test_the_api_takes_floats_in_0_1_and_batches(shipped):
    faces = np.stack([picture(16, 16, seed) for seed in range(3)])
    as_uint8 = shipped.upscale_face(faces)
    assert as_uint8.shape == (3, 64, 64, 3) and as_uint8.dtype == np.uint8
    np.testing.assert_array_equal(as_uint8[1], shipped.upscale_face(faces[1]))
    as_float = shipped.upscale_face(faces.astype(np.float32) / 255)
    assert as_float.dtype == np.float32
    np.testing.assert_allclose(as_float, as_uint8 / 255, atol=1e-6)
    photo = shipped.upscale_photo(picture(40, 50) / 255.0)
    assert photo.image.dtype == np.float32 and photo.image.shape == (160, 200, 3)


@pytest.mark.parametrize('face, message', [
    (np.full((16, 16, 3), np.nan), 'the image holds NaN or infinite values'),
    (np.full((16, 16, 3), 255.0), 'float images must lie in [0, 1], and these reach 255'),
    (np.full((16, 16, 3), 3, np.int64), 'images are int64; srez takes uint8, or float in [0, 1]'),
])
def test_the_api_refuses_what_it_cannot_upscale_in_one_line(shipped, face, message):
    with pytest.raises(ValueError) as error:
        shipped.upscale_face(face)
    assert str(error.value).startswith(message) and '\n' not in str(error.value)


def test_the_api_refuses_a_sharpness_that_is_not_a_number_from_0_to_1():
    for sharpness in (float('nan'), 1.5, -0.1):
        with pytest.raises(ValueError, match='sharpness must be a number from 0 to 1'):
            srez_upscaler.Upscaler(sharpness=sharpness)
