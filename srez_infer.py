"""srez inference: upscale image files 4x with a trained model, aligned faces and photos.

    python srez_main.py --run infer --input photos/ --output upscaled/ --compare

Every JPEG/PNG under --input (or the one file given) is written under --output as a PNG with the
same relative path and stem, and its channels (grey stays grey; alpha is kept, upscaled bicubic).
The upscaling is srez_upscaler's, as Python callers use it: an image of the model's input size
is an aligned face, upscaled whole, and images of one size run in batches; a photo (any other
image, under --faces auto) goes through the face pipeline: its faces by the model, the rest
bicubic, and what was found in FACES_RECORD.
"""
import dataclasses
import json
import os
import sys
import time

import numpy as np
from PIL import Image

import srez_config
import srez_files
import srez_imagefile
import srez_loader
import srez_photo
import srez_pixels
import srez_upscaler
from srez_errors import UsageError, first_line

COMPARE_SUFFIX = '_compare'
VIDEO_OUTPUT = '.mp4'  # A video's upscale: H.264 in MP4, which browsers play.
# The picture files --output may name: PNG, written a few rows at a time, or Pillow's others.
WRITABLE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.bmp')
FACES_RECORD = 'faces.json'  # What the face pipeline found in each photo.
# Memory a photo takes beside its upscale: the photo, detection's windows, the networks.
WORKING_BYTES = 2 ** 30


@dataclasses.dataclass(frozen=True)
class Summary:
    """What `upscale_files` did: files written, (input path, reason) for images it skipped,
    {relative path: record} of the photos that went through the face pipeline, and the inputs
    of more than 8 bits per channel, whose upscales have 8."""
    written: list
    failed: list
    photos: dict
    reduced: list


def run_infer(config):
    """--run infer: upscales config.images.input into config.output (a srez_config.InferConfig)
    with the model config.choice names. Returns 1 when an image failed, else None."""
    images = config.images
    output_dir, name = output_place(images.input, config.output)
    root, paths = find_inputs(images.input, output_dir)
    model = srez_loader.load(config.choice)
    print(model.source.line())
    upscaler = srez_upscaler.Upscaler.from_model(model, images.upscale_batch, rules=config.rules)
    summary = upscale_files(upscaler, root, paths[:images.max_images or None], output_dir,
                            compare=config.compare, faces=config.faces, log=print, name=name)
    if summary.written:
        count = len(summary.written)
        print(f'Wrote {count} upscaled file{"s" * (count != 1)} to '
              f'{summary.written[0] if name else output_dir + "/"}.')
    if summary.reduced:
        print(f'{len(summary.reduced)} of them had more than 8 bits per channel (the first: '
              f'{summary.reduced[0]}); srez works at 8, and so are their upscales.')
    if not summary.failed:
        return None
    for path, reason in summary.failed:
        print(f'srez: skipped {path}: {reason}', file=sys.stderr)
    tried = len(summary.written) + len(summary.failed)
    what = (f'{len(summary.failed)} of {tried} images failed' if summary.written else
            f'no image was upscaled: all {tried} failed, and nothing was written')
    print(f'srez: {what}.', file=sys.stderr)
    return 1


def output_place(input_path, output):
    """(folder, file name or None): where --output puts the upscale of --input. One input file
    and an --output that names a file of its kind (out.png or out.jpg for a picture, out.mp4 for
    a video): that file; else a folder."""
    kind = VIDEO_OUTPUT if _is_video(input_path) else WRITABLE_EXTENSIONS
    if os.path.isfile(input_path) and output.lower().endswith(kind):
        return os.path.dirname(output) or '.', os.path.basename(output)
    return output, None


def find_inputs(input_path, output_dir):
    """(root, sorted paths): `input_path` itself if a file, else every picture (any format
    Pillow reads) and video under it.

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
    paths = srez_files.find_images(input_path, srez_imagefile.picture_extensions()
                                   + srez_files.VIDEO_EXTENSIONS)
    if not paths:
        raise UsageError(f'--input {input_path} holds no pictures (.jpg, .png, .webp, .tif and '
                         f'every format Pillow reads) or videos (.mp4, .mov, .mkv, .avi, .webm): '
                         f'give a file or a folder of them.')
    return input_path, paths


def upscale_files(upscaler, root, paths, output_dir, compare=False, faces='auto', log=None,
                  name=None):
    """Upscales image files into PNGs under `output_dir`.

    Args:
        upscaler: a srez_upscaler.Upscaler (its batch_size: images, or faces of a photo, that run
            through the generator together).
        root, paths: the image files, and the folder their output paths are relative to (as
            `find_inputs` returns them).
        output_dir: where `<relative folder>/<stem>.png` is written (plus `<stem>_compare.png`,
            input nearest | bicubic | output, with `compare`, and FACES_RECORD for photos);
            nothing is written outside it.
        faces: 'auto' runs the face pipeline on every image but those of the model's input
            size, which are aligned faces and upscaled whole; 'on' on every image; 'off' on none.
        log: called with a line per photo and a progress line now and then, if given.
        name: for one input, the name of its output file in `output_dir` (its format by its
            extension) instead of `<stem>.png`.

    Returns:
        A Summary. An unreadable image, one whose output name is taken, or one whose faces
        cannot be detected is skipped and listed in `failed`; the others are still written.
    """
    jobs, failed = _plan(root, paths, output_dir, compare, name)
    # The quick scan knows JPEG and PNG headers; other formats are tried by decoding them.
    failed += srez_files.scan_images([job.source for job in jobs if job.source.lower().endswith(
        srez_files.IMAGE_EXTENSIONS)]).skipped
    unreadable = {path for path, _ in failed}
    writer = _Writer(upscaler, root, output_dir, Summary([], failed, {}, []), len(paths), log)
    window_pixels = (upscaler.tile_size + 2 * srez_pixels.TILE_MARGIN) ** 2
    group = []  # Images of one shape that run through the generator together.
    for job in jobs:
        if _is_video(job.source):
            writer.write_video(job, faces)
            continue
        image = None if job.source in unreadable else writer.read(job.source)
        if image is None:
            continue
        if _is_photo(image, faces, upscaler.input_sizes):
            writer.write_photo(job, image)
            continue
        if group and not _joins(group, image, upscaler.batch_size, window_pixels):
            writer.write(group)
            group = []
        group.append((job, image))
    if group:
        writer.write(group)
    return writer.summary


def _is_video(path):
    return path.lower().endswith(srez_files.VIDEO_EXTENSIONS)


def _is_photo(image, faces, input_sizes):
    """Whether `image` goes through the face pipeline under --faces `faces` (under 'auto', any
    image but an aligned face of one of the models' `input_sizes`)."""
    return faces == 'on' or (faces == 'auto'
                             and image.shape[:2] not in [(size, size) for size in input_sizes])


def _joins(group, image, batch_size, window_pixels):
    """Whether `image` can run with `group` ([(job, image)]): the same shape, at most batch_size
    images, and no more pixels than one window holds."""
    return (image.shape == group[0][1].shape and len(group) < batch_size
            and (len(group) + 1) * image.shape[0] * image.shape[1] <= window_pixels)


class _Writer:
    """Upscales decoded images, whole in groups or photo by photo through the face pipeline,
    writes their PNGs and the faces record, and keeps the Summary and the progress."""

    def __init__(self, upscaler, root, output_dir, summary, total, log):
        self.upscaler = upscaler
        self.root, self.output_dir, self.summary = root, output_dir, summary
        self.progress = _Progress(total, log)
        self._earlier_records = None  # FACES_RECORD's photos from earlier runs, once read.

    def read(self, source):
        """The pixels of the picture file `source` (see srez_imagefile.read_image), or None
        when it cannot be decoded (said in the summary)."""
        try:
            image, bits = srez_imagefile.read_image(source)
        except (OSError, ValueError, Image.DecompressionBombError) as error:  # Pillow's refusals.
            self.fail(source, 'too large to decode safely'
                      if isinstance(error, Image.DecompressionBombError) else 'cannot be decoded')
            return None
        if bits > 8:
            self.summary.reduced.append(source)
        return image

    def fail(self, source, reason):
        self.summary.failed.append((source, reason))
        self.progress.advance(len(self.summary.written) + len(self.summary.failed))

    def write(self, group):
        """Upscales `group`, [(job, uint8 image)] of one shape, and writes each job's files."""
        results = self.upscaler.upscale_images(np.stack([image for _, image in group]))
        for (job, image), result in zip(group, results):
            self._write_files(job, image, result)

    def write_photo(self, job, image):
        """Upscales one photo through the face pipeline and writes its files and record."""
        too_big = _too_big(image.shape)
        if too_big:
            self.fail(job.source, too_big)
            return
        try:
            result = self.upscaler.upscale_photo(image)
        except Exception as error:  # The detector fails in TensorFlow's and numpy's ways.
            self.fail(job.source, f'face detection failed ({first_line(error)})')
            return
        name = os.path.relpath(job.source, self.root)
        self.summary.photos[name] = dict(width=image.shape[1], height=image.shape[0],
                                         faces=[face.record() for face in result.faces])
        self._write_record()
        self.progress.say(f'{name}: {_faces_line(result.faces)}')
        self._write_files(job, image, result.image)

    def write_video(self, job, faces):
        """Upscales one video, its faces tracked unless `faces` is 'off' (then every frame is
        upscaled whole), and writes its files and record."""
        import srez_video  # PyAV loads only for videos.
        name = os.path.relpath(job.source, self.root)
        try:
            info = srez_video.probe(job.source)
            too_big = _too_big((info.height, info.width, 3), copies=6 if job.compare else 3)
            if too_big:
                self.fail(job.source, too_big)
                return
            pipeline = self.upscaler.pipeline
            upscale_frames = pipeline.upscale_frames if faces != 'off' else lambda frames: (
                srez_photo.PhotoResult(self.upscaler.upscale_face(frame), []) for frame in frames)
            result = srez_video.upscale_video(upscale_frames, job.source, job.target,
                                              job.compare, self.progress.log)
        except srez_video.VideoError as error:
            self.fail(job.source, error.reason)
            return
        tracks = pipeline.tracker.tracks if faces != 'off' else []
        self.summary.photos[name] = dict(width=info.width, height=info.height,
                                         frames=result.frames, fps=float(info.fps),
                                         tracks=[track.record() for track in tracks])
        self._write_record()
        self.progress.say(f'{name}: {_video_line(result, tracks)}')
        self.summary.written.append(job.target)
        self.progress.advance(len(self.summary.written) + len(self.summary.failed))

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
                srez_files.write_atomically(target, lambda partial, pixels=pixels: write_picture(
                    partial, pixels))
            self.summary.written.append(job.target)
        except OSError as error:
            self.summary.failed.append((job.source, f'cannot write {target} ({error.strerror})'))
        self.progress.advance(len(self.summary.written) + len(self.summary.failed))

    def _comparison(self, image, result):
        """input nearest | bicubic | output, side by side, with the image's channels."""
        nearest = np.repeat(np.repeat(image, srez_config.SCALE, axis=0), srez_config.SCALE, 1)
        smooth = srez_pixels.bicubic_in_windows(image)
        return np.concatenate([nearest, smooth, result], 1)


def _too_big(shape, copies=1):
    """Why `copies` 4x upscales of a uint8 image of `shape` [h, w, c] cannot be made in the
    memory this machine has free, or '' when they can: they need their bytes and WORKING_BYTES
    besides."""
    needed = copies * srez_config.SCALE ** 2 * int(np.prod(shape)) + WORKING_BYTES
    free = _free_memory()
    if free is None or needed <= free:
        return ''
    height, width = shape[:2]
    scale = srez_config.SCALE
    return (f'too big for the memory free: its {scale * width}x{scale * height} upscale needs '
            f'{needed / 2 ** 30:.1f} GB, and {free / 2 ** 30:.1f} GB is free')


def _free_memory():
    """Bytes of memory available to a process (Linux's MemAvailable), or None where unknown."""
    return srez_files.proc_bytes('/proc/meminfo', 'MemAvailable')


def _video_line(result, tracks):
    """'36 frames at 12 fps, 4 faces tracked, ...; sound copied.' for a video's VideoResult and
    its tracks (srez_tracks.Track)."""
    info = result.info
    line = (f'{result.frames} frames at {float(info.fps):.3g} fps'
            + (' (a variable rate kept)' if info.variable_rate else '') + ', '
            + _faces_line([track.decision for track in tracks if track.decision], 'tracked')[:-1])
    if result.damaged:
        line += (f'; the video is damaged after frame {result.frames} ({result.damaged}): the '
                 f'frames before it are written')
    return line + (f'; sound {result.audio}.' if result.audio else '; no sound.')


def _faces_line(faces, found_word='found'):
    """'3 faces found, 2 upscaled by the model, 1 upscaled bicubic (too large ...)' for a photo's
    detections (srez_faces.Face), and how many were not taken for faces."""
    found = [face for face in faces if not face.rejected]
    skipped = [face.skipped for face in found if face.skipped]
    if not found:
        line = f'no face {found_word}: upscaled bicubic'
    else:
        line = (f'{len(found)} face{"s" * (len(found) != 1)} {found_word}, '
                f'{len(found) - len(skipped)} upscaled by the model')
        for reason in sorted(set(skipped)):
            line += f', {skipped.count(reason)} upscaled bicubic ({reason})'
    rejected = len(faces) - len(found)
    if rejected:
        line += (f'; {rejected} detection{"s" * (rejected != 1)} not taken for a face (their '
                 f'reasons are in {FACES_RECORD})')
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


def _plan(root, paths, output_dir, compare, name=None):
    """Output paths for each input: ([_Job], [(path, reason)] for inputs that cannot be written).
    name: the one input's output file name, when it has one."""
    jobs, failed, taken = [], [], {}
    for path in paths:
        stem = os.path.splitext(name or os.path.relpath(path, root))[0]
        extension = VIDEO_OUTPUT if _is_video(path) else '.png'
        job = _Job(path, os.path.join(output_dir, name or stem + extension),
                   os.path.join(output_dir, stem + COMPARE_SUFFIX + extension) if compare
                   else None)
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


def write_picture(path, pixels):
    """Writes uint8 `pixels` [h, w, c] as the picture file `path`, in the format of its extension
    (any of WRITABLE_EXTENSIONS; a JPEG at quality 95)."""
    if path.lower().endswith('.png'):
        srez_imagefile.write_png(path, pixels)
        return
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    image.save(path, **({'quality': 95} if path.lower().endswith(('.jpg', '.jpeg')) else {}))
