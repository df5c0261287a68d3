"""srez image files: reading any picture Pillow reads, as a camera meant it, and writing PNGs that
memory does not limit.

`read_image` turns a file into uint8 pixels with the file's own channels, upright (a phone's
EXIF orientation applied), and says how many bits per channel the file had: srez works at 8, so
a 16-bit file's upscale has 8, and the caller says so. `write_png` writes a few rows at a time.
"""
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

# Formats Pillow registers but that are not pictures to upscale: videos (which srez_video
# reads), documents that need other programs, and scientific containers.
NOT_PICTURES = frozenset({'MPEG', 'EPS', 'PDF', 'WMF', 'BUFR', 'GRIB', 'HDF5', 'FITS'})
HIGH_DEPTH_MODES = frozenset({'I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F'})


def picture_extensions():
    """The file extensions of every picture format Pillow reads: ('.bmp', '.jpg', ...)."""
    return tuple(sorted(extension for extension, name in Image.registered_extensions().items()
                        if name in Image.OPEN and name not in NOT_PICTURES))


def read_image(path):
    """(uint8 [h, w, c], bits per channel in the file) of the picture at `path`: c is 1 (grey),
    2 (grey and alpha), 3 (RGB) or 4 (RGBA; a palette with transparency); other modes (CMYK,
    16-bit grey, 1-bit) become the nearest of those. The picture is turned as its EXIF
    orientation says (phones store it sideways and say so). Raises OSError or ValueError for a
    file Pillow cannot decode."""
    with Image.open(path) as image:
        bits = _bits_per_channel(image)
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode == 'P':
            image = image.convert('RGBA' if 'transparency' in image.info else 'RGB')
        elif image.mode == '1':
            image = image.convert('L')
        elif image.mode in HIGH_DEPTH_MODES:
            image = Image.fromarray(np.uint8(np.clip(np.round(
                np.asarray(image, np.float64) / (65535 / 255)), 0, 255)))
        elif image.mode not in ('L', 'LA', 'RGB', 'RGBA'):
            image = image.convert('RGB')
        pixels = np.asarray(image)
    return (pixels[..., np.newaxis] if pixels.ndim == 2 else pixels), bits


def _bits_per_channel(image):
    """The bits per channel of opened, not yet loaded `image`: Pillow reads 16-bit colour PNGs
    and TIFFs as 8-bit, and only the raw mode it decodes them from says so ('RGB;16B')."""
    raw = ' '.join(str(tile.args) for tile in image.tile)
    return 16 if image.mode in HIGH_DEPTH_MODES or ';16' in raw else 8


def write_png(path, pixels, rows_at_once=256):
    """Writes uint8 `pixels` [h, w, c] (c = 1 to 4) as a PNG file, a few rows at a time: memory
    stays that of the rows, however large the image (an encoder that takes the whole image
    copies it). Each row is stored as its difference from the pixel to its left (PNG's Sub
    filter), which photos compress well with. zlib's level 2: five times faster than its default
    for files about 15% larger.
    """
    height, width, channels = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF))

    compressor = zlib.compressobj(2)
    with open(path, 'wb') as file:
        file.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack(
            '>IIBBBBB', width, height, 8, colour_type, 0, 0, 0)))
        for top in range(0, height, rows_at_once):
            rows = pixels[top:top + rows_at_once].reshape(-1, width * channels)
            filtered = np.empty((len(rows), width * channels + 1), np.uint8)
            filtered[:, 0] = 1  # Sub.
            filtered[:, 1:channels + 1] = rows[:, :channels]
            filtered[:, channels + 1:] = rows[:, channels:] - rows[:, :-channels]
            file.write(chunk(b'IDAT', compressor.compress(filtered.tobytes())))
        file.write(chunk(b'IDAT', compressor.flush()) + chunk(b'IEND', b''))
