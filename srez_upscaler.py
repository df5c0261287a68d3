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

import srez_config
import srez_faces
import srez_lite
import srez_loader
import srez_pixels

SCALE = srez_pixels.SCALE
# Input pixels per window side, not counting the margins: a 128x128 window (about 0.5 GB of
# activations at the default widths) is the most one generator call sees.
TILE_SIZE = 96
# Each window reaches this many input pixels beyond the part of it that is kept. A 3x3
# convolution sees 1 pixel of its own resolution; the generator has 4.5 of them per stage at
# halving cost, so it sees under 11 input pixels whatever its depth.
TILE_MARGIN = 16


@dataclasses.dataclass(frozen=True)
class PhotoResult:
    """A photo upscaled: `image`, uint8 with the photo's channels, and its `faces`
    (srez_faces.Face, each saying where it is and whether the model upscaled it)."""
    image: np.ndarray
    faces: list


class Upscaler:
    """A trained srez model, ready to upscale faces and photos 4x: one model for each size of
    aligned face it serves (the shipped models: 16x16, and 32x32 when that pair is there)."""

    def __init__(self, model='shipped', sharpness=0.5, weights='average', batch_size=16):
        """model: 'shipped' (the shipped pairs at `sharpness`: 0 = fidelity, 1 = sharp; run by
        LiteRT), a LiteRT file (.tflite, from --export_lite; LiteRT), or a srez model file
        (.zip) or checkpoint folder (its newest checkpoint, with the `weights` 'average' or
        'raw'; TensorFlow). batch_size: faces that run through a model together.
        Raises srez_errors.UsageError for a model that cannot be read."""
        choice = srez_config.ModelChoice(model='' if model == 'shipped' else model,
                                         shipped_models=model == 'shipped', sharpness=sharpness,
                                         generator_weights=weights)
        self._set_up(*srez_loader.load_upscalers(choice, ''), batch_size, TILE_SIZE)

    @classmethod
    def from_models(cls, upscalers, source, batch_size=16, tile_size=TILE_SIZE):
        """An Upscaler of the models {input size: upscale} that srez_loader.load_upscalers
        chose, as --run infer makes it. tile_size: input pixels per window side, not counting
        margins (tests make it small)."""
        upscaler = cls.__new__(cls)
        upscaler._set_up(upscalers, source, batch_size, tile_size)
        return upscaler

    @classmethod
    def from_generator(cls, generator, source=None, batch_size=16, tile_size=TILE_SIZE):
        """An Upscaler of one TensorFlow generator (srez_model.Generator)."""
        return cls.from_models({generator.input_size: srez_loader.runner(generator)}, source,
                               batch_size, tile_size)

    def _set_up(self, upscalers, source, batch_size, tile_size):
        self.source = source  # A srez_loader.ModelSource: say upscaler.source.line().
        # The sides of the aligned faces it upscales, ascending.
        self.input_sizes = tuple(sorted(upscalers))
        self.batch_size, self.tile_size = batch_size, tile_size
        self._upscalers = upscalers
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
        upscale = self.frame_upscalers()[size]
        return _with_channels(images, lambda colour: srez_pixels.in_windows(
            colour, lambda windows: srez_pixels.to_uint8(upscale(srez_pixels.to_float(windows))),
            self.tile_size, TILE_MARGIN))

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
            check = srez_lite.network(srez_config.FACE_CHECK)
            self._check = lambda frames: check(frames=frames)[0]
        return self._detector, self._check

    def frame_upscalers(self):
        """{input size: the model on aligned faces of that size, in batches: float32 [n, s, s, 3]
        in [0, 1] -> float32 [n, 4s, 4s, 3]}."""
        def batched(upscale):
            return lambda frames: np.concatenate([
                upscale(frames[start:start + self.batch_size])
                for start in range(0, len(frames), self.batch_size)])

        return {size: batched(upscale) for size, upscale in self._upscalers.items()}


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
        upscaled = np.round(upscaled @ srez_pixels.LUMA).astype(np.uint8)[..., np.newaxis]
    if channels in (2, 4):
        alpha = np.stack([bicubic_upscale(image[..., -1:]) for image in images])
        upscaled = np.concatenate([upscaled, alpha], axis=-1)
    return upscaled


def bicubic_upscale(image, tile_size=TILE_SIZE):
    """The bicubic upscale of uint8 [h, w, c] `image`, in windows: uint8 [4h, 4w, c]."""
    return srez_pixels.in_windows(image[np.newaxis], srez_pixels.bicubic_upscale, tile_size,
                                  TILE_MARGIN)[0]
