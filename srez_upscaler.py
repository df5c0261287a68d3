"""srez as a Python object: build it once, call it on image arrays (as GFPGAN's GFPGANer and
Real-ESRGAN's RealESRGANer are used).

    from srez_upscaler import Upscaler
    upscaler = Upscaler()                        # the shipped models at --sharpness 0.5
    big_face = upscaler.upscale_face(face)       # uint8 [16, 16, 3] -> [64, 64, 3]
    result = upscaler.upscale_photo(photo)       # result.image, result.faces
    upscaler.upscale_video('clip.mp4', 'clip_4x.mp4')

`--run infer` upscales its files with the same object; its photos go through the
srez_photo.PhotoPipeline it holds (`upscaler.pipeline`). Arrays are uint8, [h, w] (grey) or
[h, w, c] with 1 (grey), 2 (grey and alpha), 3 (RGB) or 4 (RGBA) channels; the result has the
same channels, 4x the size. The colour goes through the generator (a grey image as RGB, and back
to grey), alpha is upscaled bicubic. A large image runs in overlapping windows, so memory stays
bounded whatever its size, and the windows overlap by more than the generator can see, so there
are no seams.
"""
import numpy as np

import srez_config
import srez_loader
import srez_photo
import srez_pixels

KNOBS_KEPT = 8  # set_sharpness keeps the models of this many knobs: a slider goes back and forth.


class Upscaler:
    """A trained srez model, ready to upscale faces and photos 4x: one model for each size of
    aligned face it serves (the shipped models: 16x16, and 32x32 when that pair is there)."""

    def __init__(self, model='shipped', sharpness=0.5, weights='average', batch_size=16,
                 rules=srez_config.FaceRules(), keep_last=False):
        """model: 'shipped' (the shipped pairs at `sharpness`: 0 = fidelity, 1 = sharp; run by
        LiteRT), a LiteRT file (.tflite, from --export_lite; LiteRT), or a srez model file
        (.zip) or checkpoint folder (its newest checkpoint, with the `weights` 'average' or
        'raw'; TensorFlow). batch_size: faces that run through a model together. rules: a
        srez_config.FaceRules, what a photo's detection must be to be taken for a face.
        keep_last: keep the last photo's faces and background, so that the same photo at
        another sharpness (set_sharpness) runs only the models (srez_photo.PhotoPipeline).
        Raises srez_errors.UsageError for a model that cannot be read, ValueError for a
        sharpness outside [0, 1]."""
        if not 0 <= sharpness <= 1:  # NaN too.
            raise ValueError(f'sharpness must be a number from 0 to 1, not {sharpness}')
        choice = srez_config.ModelChoice(model='' if model == 'shipped' else model,
                                         shipped_models=model == 'shipped', sharpness=sharpness,
                                         generator_weights=weights, checkpoint_dir='')
        self._set_up(srez_loader.load(choice), batch_size, srez_pixels.TILE_SIZE, rules,
                     keep_last)

    @classmethod
    def from_model(cls, model, batch_size=16, tile_size=srez_pixels.TILE_SIZE,
                   rules=srez_config.FaceRules(), keep_last=False):
        """An Upscaler of a srez_loader.Model, as --run infer makes it. tile_size: input pixels
        per window side, not counting margins (tests make it small)."""
        upscaler = cls.__new__(cls)
        upscaler._set_up(model, batch_size, tile_size, rules, keep_last)
        return upscaler

    @classmethod
    def from_generator(cls, generator, source=None, batch_size=16,
                       tile_size=srez_pixels.TILE_SIZE):
        """An Upscaler of one TensorFlow generator (srez_model.Generator)."""
        return cls.from_model(srez_loader.from_generator(generator, source), batch_size,
                              tile_size)

    def _set_up(self, model, batch_size, tile_size, rules, keep_last):
        self.batch_size, self.tile_size = batch_size, tile_size
        self.pipeline = srez_photo.PhotoPipeline({}, srez_pixels.bicubic_in_windows, rules,
                                                 keep_last)
        self._knobs = {}  # {sharpness: the shipped models at it}, the last KNOBS_KEPT used.
        self._use(model)

    def _use(self, model):
        self.model = model  # A srez_loader.Model.
        self.source = model.source  # A srez_loader.ModelSource: say upscaler.source.line().
        # The sides of the aligned faces it upscales, ascending.
        self.input_sizes = tuple(sorted(model.upscalers))
        self.pipeline.models = {size: self._batched(upscale)
                                for size, upscale in model.upscalers.items()}

    def set_sharpness(self, sharpness):
        """Blends the shipped models at `sharpness` (0 = fidelity, 1 = sharp) from now on; the
        pipeline keeps what it kept of the last photo. Raises ValueError for other models, or
        a sharpness outside [0, 1]."""
        if self.source is None or self.source.kind != srez_loader.SHIPPED:
            raise ValueError('the sharpness is for the shipped models, and this upscaler runs '
                             'another model')
        if not 0 <= sharpness <= 1:
            raise ValueError(f'sharpness must be a number from 0 to 1, not {sharpness}')
        if sharpness != self.source.sharpness:
            if sharpness not in self._knobs:
                self._knobs = dict(list(self._knobs.items())[-KNOBS_KEPT + 1:])
                self._knobs[sharpness] = srez_loader.shipped(sharpness)
            self._use(self._knobs[sharpness])

    def _batched(self, upscale):
        """`upscale` run on batch_size faces at a time."""
        return lambda frames: np.concatenate([
            upscale(frames[start:start + self.batch_size])
            for start in range(0, len(frames), self.batch_size)])

    def upscale_face(self, face):
        """An aligned face (or any image) upscaled whole by the model: [h, w(, c)] -> [4h, 4w(,
        c)], or a batch of them, [n, h, w, c] -> [n, 4h, 4w, c]; uint8, or float in [0, 1]
        (then float32 comes back)."""
        face = np.asarray(face)
        if face.ndim == 4:
            return self.upscale_images(face)
        return self.upscale_images(face[np.newaxis])[0]

    def upscale_images(self, images):
        """Images of one shape upscaled whole, in windows: [n, h, w(, c)] -> [n, 4h, 4w(, c)],
        uint8 or float in [0, 1] as upscale_face takes them. Aligned faces of one of
        `input_sizes` go to its model; any other image to the smallest faces' model."""
        images, restore = _as_uint8(images)
        size = images.shape[1] if images.shape[1:3] in [(s, s) for s in self.input_sizes] \
            else self.input_sizes[0]
        upscale = self.pipeline.models[size]
        return restore(_with_channels(images, lambda colour: srez_pixels.in_windows(
            colour, lambda windows: srez_pixels.to_uint8(upscale(srez_pixels.to_float(windows))),
            self.tile_size, srez_pixels.TILE_MARGIN)))

    def upscale_photo(self, photo):
        """A photo upscaled: its faces found, aligned and upscaled by the model, pasted into the
        bicubic upscale of the rest (srez_photo). [h, w(, c)], uint8 or float in [0, 1] ->
        srez_photo.PhotoResult, its image as the photo's type."""
        photo, restore = _as_uint8(photo)
        faces = []

        def colour_upscale(colour):
            result = self.pipeline.upscale(colour[0])
            faces.extend(result.faces)
            return result.image[np.newaxis]

        image = _with_channels(photo[np.newaxis], colour_upscale)[0]
        return srez_photo.PhotoResult(restore(image), faces)

    def upscale_frames(self, frames):
        """A video's frames upscaled, their faces tracked from frame to frame (srez_tracks):
        an iterable of [h, w(, c)] (uint8, or float in [0, 1]) in, srez_photo.PhotoResults out
        (RGB uint8), in order, a few frames behind. `self.pipeline.tracker` holds the tracks."""
        return self.pipeline.upscale_frames(_frames_as_uint8(frames))

    def upscale_video(self, source, target, compare=None, log=None):
        """The video file `source` upscaled into the MP4 file `target` (H.264, the sound kept),
        and with `compare`, the input nearest-upscaled | bicubic | srez into that file; `log`
        gets a progress line now and then. Returns a srez_video.VideoResult; raises
        srez_video.VideoError for a file that is not a video, and leaves nothing under either
        name unless it is whole."""
        import srez_video  # PyAV loads only for videos.
        return srez_video.upscale_video(self.pipeline.upscale_frames, source, target, compare,
                                        log)


def _frames_as_uint8(frames):
    """Each of `frames` as uint8 RGB [h, w, 3] (a grey frame as RGB)."""
    for frame in frames:
        frame, _ = _as_uint8(frame)
        if frame.ndim == 2:
            frame = frame[..., np.newaxis]
        yield np.repeat(frame[..., :1], 3, -1) if frame.shape[-1] in (1, 2) else frame[..., :3]


def _as_uint8(images):
    """(uint8 `images`, a function that turns uint8 results back into their type): uint8 as they
    are, floats in [0, 1] rounded to 8 bits and their results given back as float32. Raises
    ValueError for other types, non-finite numbers, or floats outside [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images, lambda results: results
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f'images are {images.dtype}; srez takes uint8, or float in [0, 1]')
    if not np.isfinite(images).all():
        raise ValueError('the image holds NaN or infinite values; srez takes uint8, or float in '
                         '[0, 1]')
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError(f'float images must lie in [0, 1], and these reach {images.min():g} to '
                         f'{images.max():g}: divide by 255 for 8-bit values')
    return np.uint8(np.round(images * 255)), lambda results: results.astype(np.float32) / 255


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
        alpha = np.stack([srez_pixels.bicubic_in_windows(image[..., -1:]) for image in images])
        upscaled = np.concatenate([upscaled, alpha], axis=-1)
    return upscaled
