"""srez as a Python object: build it once, call it on image arrays (as GFPGAN's GFPGANer and
Real-ESRGAN's RealESRGANer are used).

    from srez_upscaler import Upscaler
    upscaler = Upscaler()                        # the shipped models at --sharpness 0.5
    big_face = upscaler.upscale_face(face)       # uint8 [16, 16, 3] -> [64, 64, 3]
    result = upscaler.upscale_photo(photo)       # result.image, result.faces

`--run infer` upscales its files with the same object. Arrays are uint8, [h, w] (grey) or
[h, w, c] with 1 (grey), 2 (grey and alpha), 3 (RGB) or 4 (RGBA) channels; the result has the
same channels, 4x the size. The colour goes through the generator (a grey image as RGB, and back
to grey), alpha is upscaled bicubic. A large image runs in overlapping windows, so memory stays
bounded whatever its size, and the windows overlap by more than the generator can see, so there
are no seams.
"""
import dataclasses

import numpy as np
import tensorflow as tf

import srez_config
import srez_facecheck
import srez_faces
import srez_images
import srez_loader

SCALE = srez_images.SCALE
# Input pixels per window side, not counting the margins: a 128x128 window (about 0.5 GB of
# activations at the default widths) is the most one generator call sees.
TILE_SIZE = 96
# Each window reaches this many input pixels beyond the part of it that is kept. A 3x3
# convolution sees 1 pixel of its own resolution; the generator has 4.5 of them per stage at
# halving cost, so it sees under 11 input pixels whatever its depth.
TILE_MARGIN = 16
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as PIL and TensorFlow turn RGB to grey.


@dataclasses.dataclass(frozen=True)
class PhotoResult:
    """A photo upscaled: `image`, uint8 with the photo's channels, and its `faces`
    (srez_faces.Face, each saying where it is and whether the model upscaled it)."""
    image: np.ndarray
    faces: list


class Upscaler:
    """A trained srez model, ready to upscale faces and photos 4x: one generator for each size of
    aligned face it serves (the shipped models: 16x16, and 32x32 when that pair is there)."""

    def __init__(self, model='shipped', sharpness=0.5, weights='average', batch_size=16):
        """model: 'shipped' (the shipped pairs at `sharpness`: 0 = fidelity, 1 = sharp), a srez
        model file (.zip) or a checkpoint folder (its newest checkpoint, with the `weights`
        'average' or 'raw'). batch_size: faces that run through a generator together.
        Raises srez_errors.UsageError for a model that cannot be read."""
        if model == 'shipped':
            generators, source = srez_loader.shipped(sharpness)
        else:
            generator, source = srez_loader.from_path(model, weights)
            generators = {generator.input_size: generator}
        self._set_up(generators, source, batch_size, TILE_SIZE)

    @classmethod
    def from_models(cls, generators, source, batch_size=16, tile_size=TILE_SIZE):
        """An Upscaler of the generators {input size: generator} that srez_loader.load chose,
        as --run infer makes it. tile_size: input pixels per window side, not counting margins
        (tests make it small)."""
        upscaler = cls.__new__(cls)
        upscaler._set_up(generators, source, batch_size, tile_size)
        return upscaler

    @classmethod
    def from_generator(cls, generator, source=None, batch_size=16, tile_size=TILE_SIZE):
        """An Upscaler of one generator."""
        return cls.from_models({generator.input_size: generator}, source, batch_size, tile_size)

    def _set_up(self, generators, source, batch_size, tile_size):
        self.source = source  # A srez_loader.ModelSource: say upscaler.source.line().
        # The sides of the aligned faces it upscales, ascending.
        self.input_sizes = tuple(sorted(generators))
        self.batch_size, self.tile_size = batch_size, tile_size
        self._on_windows = {size: tf.function(
            lambda images, generator=generator: upscale_uint8(generator, images),
            autograph=False, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
            for size, generator in generators.items()}
        self._on_frames = {size: tf.function(
            lambda frames, generator=generator: generator(frames, training=False),
            autograph=False, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
            for size, generator in generators.items()}
        self._detector = self._check = None  # Made at the first photo: they load networks.

    def upscale_face(self, face):
        """An aligned face (or any image) upscaled whole by the model: uint8 [h, w(, c)] ->
        uint8 [4h, 4w(, c)]."""
        return self.upscale_images(np.asarray(face)[np.newaxis])[0]

    def upscale_images(self, images):
        """Images of one shape upscaled whole, in windows: uint8 [n, h, w(, c)] -> [n, 4h, 4w(,
        c)]. Aligned faces of one of `input_sizes` go to its model; any other image to the
        smallest faces' model."""
        images = np.asarray(images)
        size = images.shape[1] if images.shape[1:3] in [(s, s) for s in self.input_sizes] \
            else self.input_sizes[0]
        return _with_channels(images, lambda colour: in_windows(
            colour, lambda windows: self._on_windows[size](windows).numpy(), self.tile_size))

    def upscale_photo(self, photo):
        """A photo upscaled: its faces found, aligned and upscaled by the model, pasted into the
        bicubic upscale of the rest (srez_faces). uint8 [h, w(, c)] -> PhotoResult."""
        faces = []

        def colour_upscale(colour):
            image, found = srez_faces.upscale_photo(
                colour[0], *self.face_finders(), self.frame_upscalers(),
                lambda photo: bicubic_upscale(photo, self.tile_size))
            faces.extend(found)
            return image[np.newaxis]

        image = _with_channels(np.asarray(photo)[np.newaxis], colour_upscale)[0]
        return PhotoResult(image, faces)

    def face_finders(self):
        """(srez_faces.Detector, the face check on frames float32 [n, 16, 16, 3] -> [n]), made
        at the first call."""
        if self._detector is None:
            self._detector = srez_faces.Detector()
            check, _ = srez_facecheck.load(srez_config.FACE_CHECK)
            self._check = lambda frames: check(frames).numpy()
        return self._detector, self._check

    def frame_upscalers(self):
        """{input size: the model on aligned faces of that size, in batches: float32 [n, s, s, 3]
        in [0, 1] -> float32 [n, 4s, 4s, 3]}."""
        def upscaler(size):
            return lambda frames: np.concatenate([
                self._on_frames[size](tf.constant(frames[start:start + self.batch_size],
                                                  tf.float32)).numpy()
                for start in range(0, len(frames), self.batch_size)])

        return {size: upscaler(size) for size in self.input_sizes}


def upscale_uint8(generator, images):
    """The generator's 4x upscale, quantised: uint8 [b, h, w, 3] -> uint8 [b, 4h, 4w, 3].

    Shared with the exported SavedModel, so both give the same pixels.
    """
    output = generator(tf.image.convert_image_dtype(images, tf.float32), training=False)
    return tf.image.convert_image_dtype(output, tf.uint8, saturate=True)


def _with_channels(images, upscale_colour):
    """Upscales `images` (uint8 [n, h, w] or [n, h, w, 1-4]) keeping their channels: the colour
    by `upscale_colour` (uint8 [n, h, w, 3] -> [n, 4h, 4w, 3]; grey goes in as RGB and comes
    back grey), alpha bicubic."""
    if images.ndim == 3:
        return _with_channels(images[..., np.newaxis], upscale_colour)[..., 0]
    channels = images.shape[-1]
    if channels not in (1, 2, 3, 4):
        raise ValueError(f'images have {channels} channels; srez takes 1 (grey), 2 (grey and '
                         f'alpha), 3 (RGB) or 4 (RGBA)')
    grey = channels in (1, 2)
    colour = np.repeat(images[..., :1], 3, -1) if grey else images[..., :3]
    upscaled = upscale_colour(colour)
    if grey:
        upscaled = np.round(upscaled @ LUMA).astype(np.uint8)[..., np.newaxis]
    if channels in (2, 4):
        alpha = np.stack([bicubic_upscale(image[..., -1:]) for image in images])
        upscaled = np.concatenate([upscaled, alpha], axis=-1)
    return upscaled


def bicubic_upscale(image, tile_size=TILE_SIZE):
    """The bicubic upscale of uint8 [h, w, c] `image`, in windows: uint8 [4h, 4w, c]."""
    return in_windows(image[np.newaxis],
                      lambda windows: srez_images.bicubic_upscale(windows).numpy(), tile_size)[0]


def in_windows(images, upscale, tile_size=TILE_SIZE):
    """Applies a 4x `upscale` to `images` (uint8 [n, h, w, c]) window by window.

    Each window adds TILE_MARGIN pixels of context on every side that the image has, and only its
    centre is kept, so the result equals upscale(images) for any upscale that sees no further.
    """
    height, width = images.shape[1:3]
    result = None
    for top, bottom, row_start, row_stop in srez_images.spans(height, tile_size, TILE_MARGIN):
        for left, right, col_start, col_stop in srez_images.spans(width, tile_size, TILE_MARGIN):
            window = upscale(images[:, top:bottom, left:right])
            if result is None:
                result = np.empty((len(images), SCALE * height, SCALE * width, window.shape[-1]),
                                  np.uint8)
            result[:, SCALE * row_start:SCALE * row_stop, SCALE * col_start:SCALE * col_stop] = (
                window[:, SCALE * (row_start - top):SCALE * (row_stop - top),
                       SCALE * (col_start - left):SCALE * (col_stop - left)])
    return result
