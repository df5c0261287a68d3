"""Image files of every kind a user's folder may hold, good and bad, for the tests of reading
them (test_input) and of training on them (test_stops)."""
import io
import struct
import zlib

import numpy as np
from PIL import Image


def face(size=(178, 218), mode='RGB'):
    """A smooth colour image (so JPEG round trips stay close) of `size` (width, height)."""
    x, y = np.meshgrid(np.linspace(0, 1, size[0]), np.linspace(0, 1, size[1]))
    pixels = np.stack([x, y, (x + y) / 2], axis=-1) * 200 + 30
    return Image.fromarray(pixels.astype(np.uint8)).convert(mode)


def write_face(path, size=(178, 218), mode='RGB'):
    face(size, mode).save(path)
    return str(path)


def truncated_jpeg(folder):
    path = folder / 'truncated.jpg'
    write_face(path)
    contents = path.read_bytes()
    path.write_bytes(contents[:len(contents) // 2])
    return path


def zero_byte_file(folder):
    path = folder / 'empty.jpg'
    path.write_bytes(b'')
    return path


def text_named_jpg(folder):
    path = folder / 'notes.jpg'
    path.write_text('not a picture\n')
    return path


def png_with_alpha(folder):
    image = face(mode='RGBA')
    image.putalpha(Image.linear_gradient('L').resize(image.size))
    image.save(folder / 'alpha.png')
    return folder / 'alpha.png'


def greyscale_jpeg(folder):
    return write_face(folder / 'grey.jpg', mode='L')


def cmyk_jpeg(folder):
    return write_face(folder / 'cmyk.jpg', mode='CMYK')


def smaller_than_128px(folder):
    return write_face(folder / 'small.jpg', size=(60, 50))


def one_pixel_high(folder):
    return write_face(folder / 'sliver.png', size=(300, 1))


def over_pil_pixel_limit(folder):
    """A valid 8x8 PNG whose header claims 20000x20000, which Pillow refuses as a bomb."""
    buffer = io.BytesIO()
    Image.new('L', (8, 8)).save(buffer, 'PNG')
    png = bytearray(buffer.getvalue())
    header = b'IHDR' + struct.pack('>II', 20000, 20000) + bytes(png[24:29])
    png[12:29], png[29:33] = header, struct.pack('>I', zlib.crc32(header))
    (folder / 'huge.png').write_bytes(bytes(png))
    return folder / 'huge.png'


def corrupt_pixels_jpeg(folder):
    """A JPEG with a valid header and end marker but garbage in the middle of its scan data."""
    path = folder / 'corrupt.jpg'
    noise = np.random.default_rng(0).integers(0, 256, (218, 178, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)  # Noise: long scan data to spoil.
    contents = bytearray(path.read_bytes())
    middle = len(contents) // 2
    for index in range(middle, middle + 2000, 7):
        contents[index] = 0xFF
    path.write_bytes(bytes(contents))
    return path


# file maker -> the reason it is skipped, or None when it must train.
DATA_CASES = {
    'truncated_jpeg': (truncated_jpeg, 'truncated JPEG'),
    'zero_byte_file': (zero_byte_file, 'empty file'),
    'text_named_jpg': (text_named_jpg, 'not an image'),
    'png_with_alpha': (png_with_alpha, None),
    'greyscale_jpeg': (greyscale_jpeg, None),
    'cmyk_jpeg': (cmyk_jpeg, None),
    'smaller_than_128px': (smaller_than_128px, None),
    'one_pixel_high': (one_pixel_high, None),
    'over_pil_pixel_limit': (over_pil_pixel_limit, 'too large to decode safely'),
}
