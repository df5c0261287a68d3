"""srez pixels: the image operations of upscaling, in numpy, so that it runs without TensorFlow.

Everything a photo goes through between the file and the networks: the 4x bicubic upscale of what
no model upscales (the very pixels of TensorFlow's `tf.image.resize(..., 'bicubic')`, quantised as
`tf.image.convert_image_dtype` does), windows that keep memory bounded, and the resampling that
cuts a face's frame out of a photo (a bilinear warp, then an area resize).

Images are numpy arrays [..., h, w, c]; uint8 in [0, 255] or float32 in [0, 1] as each says.
"""
import functools

import numpy as np

import srez_config

# Input pixels per window side, not counting the margins: a 128x128 window (about 0.5 GB of
# activations at the default widths) is the most one generator call sees.
TILE_SIZE = 96
# Each window reaches this many input pixels beyond the part of it that is kept. A 3x3
# convolution sees 1 pixel of its own resolution; the generator has 4.5 of them per stage at
# halving cost, so it sees under 11 input pixels whatever its depth.
TILE_MARGIN = 16
# Bicubic sees 2 pixels; a window of 516x516 (51 MB of floats at 4x) is cheap to hold.
BICUBIC_TILE_SIZE, BICUBIC_MARGIN = 512, 2
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow and TensorFlow turn RGB to grey.


def to_uint8(images):
    """float [0, 1] -> uint8, as tf.image.convert_image_dtype(saturate=True) rounds: floor(255.5 x)."""
    scaled = np.multiply(images, np.float32(255.5), dtype=np.float32)
    np.floor(scaled, out=scaled)
    return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)


def to_float(images):
    """uint8 -> float32 in [0, 1]."""
    return np.asarray(images, np.float32) / 255


def _keys_cubic(distance, a=-0.5):
    distance = np.abs(distance)
    near = ((a + 2) * distance - (a + 3)) * distance ** 2 + 1
    far = ((distance - 5) * distance + 8) * distance * a - 4 * a
    return np.where(distance <= 1, near, np.where(distance < 2, far, 0.0))


@functools.lru_cache(maxsize=64)
def _bicubic_band(length, scale):
    """A `scale`x bicubic upscale along an axis of `length` pixels as a _Band: half-pixel
    centres, taps outside the image dropped and the rest renormalised, as TensorFlow's resize
    does (Keys' kernel, a = -0.5)."""
    position = (np.arange(length * scale) + 0.5) / scale - 0.5
    taps = np.floor(position).astype(int)[:, None] + np.arange(-1, 3)
    weights = np.where((taps >= 0) & (taps < length), _keys_cubic(position[:, None] - taps), 0)
    return _Band(np.clip(taps, 0, length - 1), weights / weights.sum(1, keepdims=True), length)


class _Band:
    """A resampling along one axis as a matrix [output, input] that is a band (each output pixel
    a weighted sum of a few neighbouring input ones): multiplied a strip of outputs at a time,
    each strip with the inputs it reads, which BLAS runs fast."""

    STRIP = 16  # Output pixels a product makes.

    def __init__(self, taps, weights, length):
        """taps, weights: [output, k], the input pixels each output pixel sums, and how."""
        self.matrix = np.zeros((len(taps), length), np.float32)
        np.add.at(self.matrix, (np.arange(len(taps))[:, None], taps), weights)
        self.strips = [(start, min(start + self.STRIP, len(taps)), taps[start:start + self.STRIP]
                        .min(), taps[start:start + self.STRIP].max() + 1)
                       for start in range(0, len(taps), self.STRIP)]

    def apply(self, flat, product=None):
        """This band's matrix @ `flat` [input, n] -> float32 [output, n], written into
        `product` if given."""
        if product is None:
            product = np.empty((self.matrix.shape[0], flat.shape[1]), np.float32)
        for start, stop, low, high in self.strips:
            np.matmul(self.matrix[start:stop, low:high], flat[low:high], out=product[start:stop])
        return product


def _resampled(image, rows, columns, out=None, turned=None):
    """float32 `image` [h, w, c] resampled by the _Bands `rows` (along h) and `columns` (along
    w), into `out` if given: columns on the image turned, then rows on the result turned back,
    so each product reads and writes whole rows of memory. turned: the image turned, [w, h c],
    when the caller has it."""
    height, width, channels = image.shape
    if turned is None:
        turned = np.ascontiguousarray(image.transpose(1, 0, 2)).reshape(width, -1)
    wide = columns.apply(turned)
    wide = np.ascontiguousarray(wide.reshape(-1, height, channels).transpose(1, 0, 2))
    size = (rows.matrix.shape[0], columns.matrix.shape[0], channels)
    return rows.apply(wide.reshape(height, -1), None if out is None else out.reshape(
        size[0], -1)).reshape(size)


def bicubic_upscale(images, scale=srez_config.SCALE):
    """Bicubic 4x upscale, clipped to the image range: [b, h, w, c] -> [b, 4h, 4w, c], of the
    dtype it is given (uint8, or float in [0, 1]). TensorFlow's `tf.image.resize(...,
    'bicubic')` within float rounding (about one uint8 pixel in 200,000 differs by 1)."""
    images = np.asarray(images)
    pixels = to_float(images) if images.dtype == np.uint8 else images.astype(np.float32)
    count, height, width, channels = pixels.shape
    rows, columns = _bicubic_band(height, scale), _bicubic_band(width, scale)
    upscaled = np.empty((count, scale * height, scale * width, channels), np.float32)
    for image, out in zip(pixels, upscaled):
        _resampled(image, rows, columns, out)
    if images.dtype == np.uint8:
        return to_uint8(upscaled)
    return np.clip(upscaled, 0, 1, out=upscaled)


def spans(length, tile_size, margin):
    """Windows along one axis of `length` pixels: [(start, stop, kept_start, kept_stop)], the
    kept parts (`tile_size` each) tiling it, each window reaching `margin` beyond its kept part.

    At the image's end a window is shifted inwards rather than cut short: every window has one
    size and full context (the image's own border, where there is no more image), and
    neighbouring windows overlap by 2 * margin.
    """
    size = tile_size + 2 * margin
    if length <= size:
        return [(0, length, 0, length)]
    found = []
    for kept_start in range(0, length, tile_size):
        start = min(max(kept_start - margin, 0), length - size)
        found.append((start, start + size, kept_start, min(kept_start + tile_size, length)))
    return found


def in_windows(images, upscale, tile_size, margin):
    """Applies a 4x `upscale` to `images` (uint8 [n, h, w, c]) window by window: each window
    adds `margin` pixels of context on every side that the image has, and only its centre is
    kept, so the result equals upscale(images) for any upscale that sees no further."""
    height, width = images.shape[1:3]
    scale = srez_config.SCALE
    result = None
    for top, bottom, row_start, row_stop in spans(height, tile_size, margin):
        for left, right, col_start, col_stop in spans(width, tile_size, margin):
            window = upscale(images[:, top:bottom, left:right])
            if result is None:
                result = np.empty((len(images), scale * height, scale * width, window.shape[-1]),
                                  np.uint8)
            result[:, scale * row_start:scale * row_stop, scale * col_start:scale * col_stop] = (
                window[:, scale * (row_start - top):scale * (row_stop - top),
                       scale * (col_start - left):scale * (col_stop - left)])
    return result


def bicubic_in_windows(image, tile_size=BICUBIC_TILE_SIZE):
    """The bicubic upscale of uint8 [h, w, c] `image`, in windows: uint8 [4h, 4w, c]."""
    return in_windows(image[np.newaxis], bicubic_upscale, tile_size, BICUBIC_MARGIN)[0]


def warp(image, transform, size):
    """`image` [h, w, c] sampled bilinearly at output pixel (x, y) -> input pixel position
    transform @ (x, y, 1) ([2, 3], pixel centres at whole numbers), edges repeating beyond it:
    float32 [size, size, c]."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    source = np.stack([x, y, np.ones_like(x)], -1) @ np.asarray(transform, np.float64).T
    return sample(image.astype(np.float32), source[..., 0], source[..., 1])


def sample(image, x, y):
    """`image` [h, w, c] sampled bilinearly at pixel positions (x, y) (centres at whole numbers),
    edges repeating."""
    x = np.clip(x, 0, image.shape[1] - 1)
    y = np.clip(y, 0, image.shape[0] - 1)
    x0 = np.minimum(np.floor(x).astype(int), max(image.shape[1] - 2, 0))
    y0 = np.minimum(np.floor(y).astype(int), max(image.shape[0] - 2, 0))
    x1, y1 = np.minimum(x0 + 1, image.shape[1] - 1), np.minimum(y0 + 1, image.shape[0] - 1)
    dx, dy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - dx) + image[y0, x1] * dx
    bottom = image[y1, x0] * (1 - dx) + image[y1, x1] * dx
    return (top * (1 - dy) + bottom * dy).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _area_band(length, size):
    """The area resize of an axis of `length` pixels to `size` as a _Band: each output pixel
    the mean of the input pixels it overlaps, weighted by how much (or spread, to upscale)."""
    edges = np.arange(size + 1) * (length / size)  # Output pixel edges, in input pixels.
    taps = int(np.ceil(length / size)) + 1
    first = np.floor(edges[:-1]).astype(int)
    indices = first[:, None] + np.arange(taps)
    low = np.maximum(edges[:-1, None], indices)
    high = np.minimum(edges[1:, None], indices + 1)
    weights = np.clip(high - low, 0, None)
    return _Band(np.minimum(indices, length - 1), weights / weights.sum(1, keepdims=True),
                 length)


def area_resize(image, size):
    """`image` [h, w, c] averaged by area into [size[0], size[1], c] (float32)."""
    return next(area_resizes(image, [size]))


def area_resizes(image, sizes):
    """`image` [h, w, c] averaged by area into each of `sizes` in turn (float32 [size[0],
    size[1], c] each), the image turned once for them all (a detector's pyramid)."""
    image = np.asarray(image, np.float32)
    turned = np.ascontiguousarray(image.transpose(1, 0, 2)).reshape(image.shape[1], -1)
    for size in sizes:
        yield _resampled(image, _area_band(image.shape[0], size[0]),
                         _area_band(image.shape[1], size[1]), turned=turned)

