"""srez inference: upscale image files 4x with a trained generator, aligned faces and photos.

    python srez_main.py --run infer --input photos/ --output upscaled/ --compare

Every JPEG/PNG under --input (or the one file given) is written under --output as a PNG with the
same relative path and stem. Greyscale becomes RGB; an alpha channel is kept, upscaled bicubic.
An image of the model's input size is an aligned face, upscaled whole; images of one size run in
batches, and a large one in overlapping windows, so memory stays bounded whatever its size, and
the windows overlap by more than the generator can see, so there are no seams. A photo (any other
image, under --faces auto) goes through srez_faces: its faces by the model, the rest bicubic, and
what was found in FACES_RECORD.
"""
import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf

import srez_faces
import srez_files
import srez_images
import srez_input
from srez_errors import UsageError

SCALE = srez_images.SCALE
# Input pixels per window side, not counting the margins: a 128x128 window (about 0.5 GB of
# activations at the default widths) is the most one generator call sees.
TILE_SIZE = 96
# Each window reaches this many input pixels beyond the part of it that is kept. A 3x3
# convolution sees 1 pixel of its own resolution; the generator has 4.5 of them per stage at
# halving cost, so it sees under 11 input pixels whatever its depth.
TILE_MARGIN = 16
COMPARE_SUFFIX = '_compare'
FACES_RECORD = 'faces.json'  # What the face pipeline found in each photo.


@dataclasses.dataclass(frozen=True)
class Summary:
    """What `upscale_files` did: PNGs written, (input path, reason) for images it skipped, and
    {relative path: record} of the photos that went through the face pipeline."""
    written: list
    failed: list
    photos: dict


def upscale(generator, images):
    """The generator's 4x upscale, quantised: uint8 [b, h, w, 3] -> uint8 [b, 4h, 4w, 3].

    Shared with the exported SavedModel, so both give the same pixels.
    """
    output = generator(tf.image.convert_image_dtype(images, tf.float32), training=False)
    return tf.image.convert_image_dtype(output, tf.uint8, saturate=True)


def find_inputs(input_path, output_dir):
    """(root, sorted image paths): `input_path` itself if a file, else every JPEG/PNG under it.

    Raises UsageError when `input_path` does not exist or holds no images, or when `output_dir`
    lies inside the `input_path` folder (a second run would take the outputs for inputs).
    """
    if os.path.isfile(input_path):
        return os.path.dirname(input_path) or '.', [input_path]
    if not os.path.isdir(input_path):
        raise UsageError(f'--input {input_path} does not exist: give an image file or a folder '
                         f'of images.')
    if srez_files.is_within(output_dir, input_path):
        raise UsageError(f'--output {output_dir} is inside --input {input_path}: choose a folder '
                         f'outside it.')
    paths = srez_input.find_images(input_path)
    if not paths:
        raise UsageError(f'--input {input_path} holds no .jpg, .jpeg or .png files: give an image '
                         f'file or a folder of images.')
    return input_path, paths


def upscale_files(generator, root, paths, output_dir, compare=False, batch_size=16,
                  tile_size=TILE_SIZE, faces='auto', log=None):
    """Upscales image files into PNGs under `output_dir`.

    Args:
        generator: a srez_model.Generator.
        root, paths: the image files, and the folder their output paths are relative to (as
            `find_inputs` returns them).
        output_dir: where `<relative folder>/<stem>.png` is written (plus `<stem>_compare.png`,
            input nearest | bicubic | output, with `compare`, and FACES_RECORD for photos);
            nothing is written outside it.
        batch_size: most images (or faces of a photo) that run through the generator together.
        tile_size: input pixels per window side, not counting margins (tests make it small).
        faces: 'auto' runs the face pipeline (srez_faces) on every image but those of the
            model's input size, which are aligned faces and upscaled whole; 'on' on every image;
            'off' on none.
        log: called with a line per photo and a progress line now and then, if given.

    Returns:
        A Summary. An unreadable image, one whose output name is taken, or one whose faces
        cannot be detected is skipped and listed in `failed`; the others are still written.
    """
    jobs, failed = _plan(root, paths, output_dir, compare)
    failed += srez_input.scan_images([job.source for job in jobs]).skipped
    unreadable = {path for path, _ in failed}
    writer = _Writer(generator, root, output_dir, tile_size, batch_size,
                     Summary([], failed, {}), len(paths), log)
    group = []  # Images of one shape that run through the generator together.
    for job in jobs:
        if job.source in unreadable:
            continue
        try:
            image = _read_rgb_or_rgba(job.source)
        except tf.errors.OpError:
            writer.fail(job.source, 'cannot be decoded')
            continue
        if _is_photo(image, faces, writer.input_size):
            writer.write_photo(job, image)
            continue
        if group and not _joins(group, image, batch_size, (tile_size + 2 * TILE_MARGIN) ** 2):
            writer.write(group)
            group = []
        group.append((job, image))
    if group:
        writer.write(group)
    return writer.summary


def _is_photo(image, faces, input_size):
    """Whether `image` goes through the face pipeline under --faces `faces`."""
    return faces == 'on' or (faces == 'auto' and image.shape[:2] != (input_size, input_size))


def _joins(group, image, batch_size, window_pixels):
    """Whether `image` can run with `group` ([(job, image)]): the same shape, at most batch_size
    images, and no more pixels than one window holds."""
    return (image.shape == group[0][1].shape and len(group) < batch_size
            and (len(group) + 1) * image.shape[0] * image.shape[1] <= window_pixels)


class _Writer:
    """Upscales decoded images, whole in groups or photo by photo through the face pipeline,
    writes their PNGs and the faces record, and keeps the Summary and the progress."""

    def __init__(self, generator, root, output_dir, tile_size, batch_size, summary, total, log):
        self.upscale_rgb = tf.function(
            lambda images: upscale(generator, images), autograph=False,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
        self.upscale_frames = frame_upscaler(generator, batch_size)
        self.input_size = generator.input_size
        self.root, self.output_dir = root, output_dir
        self.tile_size, self.summary = tile_size, summary
        self.progress = _Progress(total, log)
        self._detector = None  # Made at the first photo: it loads three networks.
        self._earlier_records = None  # FACES_RECORD's photos from earlier runs, once read.

    def fail(self, source, reason):
        self.summary.failed.append((source, reason))
        self.progress.advance(len(self.summary.written) + len(self.summary.failed))

    def write(self, group):
        """Upscales `group`, [(job, uint8 image)] of one shape, and writes each job's files."""
        images = np.stack([image for _, image in group])
        results = _upscale_batch(images, self.upscale_rgb, self.tile_size)
        for (job, image), result in zip(group, results):
            self._write_files(job, image, result)

    def write_photo(self, job, image):
        """Upscales one photo through the face pipeline and writes its files and record."""
        rgb = image[..., :3]
        background = background_upscale(rgb, self.tile_size)
        try:
            if self._detector is None:
                self._detector = srez_faces.Detector()
            result, faces = srez_faces.upscale_photo(rgb, self._detector, self.upscale_frames,
                                                     self.input_size, background)
        except Exception as error:  # The detector fails in TensorFlow's and numpy's ways.
            reason = (getattr(error, 'message', None) or str(error)).strip().splitlines()[0]
            self.fail(job.source, f'face detection failed ({type(error).__name__}: {reason})')
            return
        if image.shape[-1] == 4:
            alpha = background_upscale(image[..., 3:], self.tile_size)
            result = np.concatenate([result, alpha], axis=-1)
        name = os.path.relpath(job.source, self.root)
        self.summary.photos[name] = dict(width=image.shape[1], height=image.shape[0],
                                         faces=[face.record() for face in faces])
        self._write_record()
        self.progress.say(f'{name}: {_faces_line(faces)}')
        self._write_files(job, image, result)

    def _write_record(self):
        """Writes FACES_RECORD: the photos of this run, over those of earlier runs into the
        same --output."""
        path = os.path.join(self.output_dir, FACES_RECORD)
        if self._earlier_records is None:
            try:
                with open(path) as file:
                    self._earlier_records = dict(json.load(file))
            except (OSError, ValueError, TypeError):
                self._earlier_records = {}
        os.makedirs(self.output_dir, exist_ok=True)
        srez_files.write_atomically(path, json.dumps({**self._earlier_records,
                                                      **self.summary.photos}, indent=1))

    def _write_files(self, job, image, result):
        files = [(job.target, result)]
        if job.compare:
            files.append((job.compare, self._comparison(image, result)))
        try:
            for target, pixels in files:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                srez_files.write_atomically(target, tf.io.encode_png(pixels).numpy())
            self.summary.written.append(job.target)
        except OSError as error:
            self.summary.failed.append((job.source, f'cannot write {target} ({error.strerror})'))
        self.progress.advance(len(self.summary.written) + len(self.summary.failed))

    def _comparison(self, image, result):
        """input nearest | bicubic | output, side by side: uint8 [4h, 12w, 3]."""
        rgb = image[np.newaxis, ..., :3]
        nearest = srez_images.nearest_upscale(rgb, SCALE)[0].numpy()
        smooth = _in_windows(rgb, _bicubic, self.tile_size)[0]
        return np.concatenate([nearest, smooth, result[..., :3]], 1)


def frame_upscaler(generator, batch_size):
    """The generator on aligned faces, in batches: float32 [n, s, s, 3] in [0, 1] -> numpy
    float32 [n, 4s, 4s, 3]."""
    upscale = tf.function(lambda frames: generator(frames, training=False), autograph=False,
                          input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])

    def upscale_frames(frames):
        return np.concatenate([upscale(tf.constant(frames[start:start + batch_size],
                                                   tf.float32)).numpy()
                               for start in range(0, len(frames), batch_size)])

    return upscale_frames


def background_upscale(image, tile_size=TILE_SIZE):
    """The bicubic upscale of uint8 [h, w, c] `image`, in windows: uint8 [4h, 4w, c]."""
    return _in_windows(image[np.newaxis], _bicubic, tile_size)[0]


def _bicubic(windows):
    return srez_images.bicubic_upscale(windows).numpy()


def _faces_line(faces):
    """'3 faces found, 2 upscaled, 1 kept as it was (too large ...)' for a photo's Faces."""
    skipped = [face.skipped for face in faces if face.skipped]
    if not faces:
        return 'no face found: upscaled bicubic.'
    line = (f'{len(faces)} face{"s" * (len(faces) != 1)} found, '
            f'{len(faces) - len(skipped)} upscaled by the model')
    for reason in sorted(set(skipped)):
        line += f', {skipped.count(reason)} upscaled bicubic ({reason})'
    return line + '.'


class _Progress:
    """Lines saying how far a run over many files got: done of total, rate, time left."""

    PERIOD = 5.0  # Seconds between progress lines when no photo has its own line.

    def __init__(self, total, log):
        self.total, self.log = total, log
        self.done = 0
        self.start = self._last = time.monotonic()

    def say(self, line):
        """Logs `line` about the file being done, with the count."""
        if self.log:
            self.log(f'[{self.done + 1}/{self.total}] {line}')
            self._last = time.monotonic()

    def advance(self, done):
        """Counts `done` files finished; logs the rate and time left now and then, and at the end."""
        self.done = done
        now = time.monotonic()
        if self.log and self.total > 1 and (now - self._last >= self.PERIOD or done == self.total):
            rate = done / max(now - self.start, 1e-9)
            left = (self.total - done) / max(rate, 1e-9)
            self.log(f'{done}/{self.total} images, {rate:.2f}/s, {left:.0f} s left.')
            self._last = now


@dataclasses.dataclass(frozen=True)
class _Job:
    source: str
    target: str
    compare: str


def _plan(root, paths, output_dir, compare):
    """Output paths for each input: ([_Job], [(path, reason)] for inputs that cannot be written)."""
    jobs, failed, taken = [], [], {}
    for path in paths:
        stem = os.path.splitext(os.path.relpath(path, root))[0]
        job = _Job(path, os.path.join(output_dir, stem + '.png'),
                   os.path.join(output_dir, stem + COMPARE_SUFFIX + '.png') if compare else None)
        targets = [job.target] + ([job.compare] if compare else [])
        clash = next((taken[t] for t in targets if t in taken), None)
        if clash:
            failed.append((path, f'its output name is taken by {clash}; rename one of them'))
        elif not all(srez_files.is_within(t, output_dir) for t in targets):
            failed.append((path, f'its output would land outside {output_dir} (a symbolic link?)'))
        elif any(os.path.realpath(t) == os.path.realpath(path) for t in targets):
            failed.append((path, 'its output would overwrite it; choose another --output'))
        else:
            taken.update((t, path) for t in targets)
            jobs.append(job)
    return jobs, failed


def _read_rgb_or_rgba(path):
    """Any JPEG/PNG -> uint8 [h, w, 3], or [h, w, 4] when it has alpha (grey becomes RGB)."""
    image = srez_input.decode_image(tf.io.read_file(path), channels=0)
    if image.shape[-1] in (1, 2):
        image = tf.concat([tf.image.grayscale_to_rgb(image[..., :1]), image[..., 1:]], axis=-1)
    return image.numpy()


def _upscale_batch(images, upscale_rgb, tile_size):
    """uint8 [n, h, w, 3 or 4] -> [n, 4h, 4w, same]: RGB by the generator, alpha bicubic."""

    def upscale_window(windows):
        rgb = upscale_rgb(windows[..., :3]).numpy()
        if windows.shape[-1] == 3:
            return rgb
        alpha = srez_images.bicubic_upscale(windows[..., 3:]).numpy()
        return np.concatenate([rgb, alpha], axis=-1)

    return _in_windows(images, upscale_window, tile_size)


def _in_windows(images, function, tile_size):
    """Applies a 4x upscale `function` to `images` (uint8 [n, h, w, c]) window by window.

    Each window adds TILE_MARGIN pixels of context on every side that the image has, and only its
    centre is kept, so the result equals function(images) for any function that sees no further.
    """
    height, width = images.shape[1:3]
    result = None
    for top, bottom, row_start, row_stop in _spans(height, tile_size):
        for left, right, col_start, col_stop in _spans(width, tile_size):
            window = function(images[:, top:bottom, left:right])
            if result is None:
                result = np.empty((len(images), SCALE * height, SCALE * width, window.shape[-1]),
                                  np.uint8)
            result[:, SCALE * row_start:SCALE * row_stop, SCALE * col_start:SCALE * col_stop] = (
                window[:, SCALE * (row_start - top):SCALE * (row_stop - top),
                       SCALE * (col_start - left):SCALE * (col_stop - left)])
    return result


def _spans(length, tile_size):
    """Windows along one axis: [(start, stop, kept_start, kept_stop)], the kept parts tiling it.

    At the image's end a window is shifted inwards rather than cut short: every window has one
    size and full context (the image's own border, where there is no more image).
    """
    size = tile_size + 2 * TILE_MARGIN
    if length <= size:
        return [(0, length, 0, length)]
    spans = []
    for kept_start in range(0, length, tile_size):
        start = min(max(kept_start - TILE_MARGIN, 0), length - size)
        spans.append((start, start + size, kept_start, min(kept_start + tile_size, length)))
    return spans
