"""srez video: the small faces of a video upscaled, steady over time, the sound kept.

    python srez_main.py --run infer --input clip.mp4        # -> upscaled/clip.mp4

A video is read frame by frame (PyAV, FFmpeg's libraries, in the light install too), upright as
its rotation metadata says, and its frames go through the photo pipeline with their faces tracked
from frame to frame (srez_photo.PhotoPipeline.upscale_frames, srez_tracks). The upscale is
written a few frames at a time, so memory does not grow with the clip's length, as H.264 in
yuv420p (browsers play it), every frame at its own time: the same frame count, frame rate and
duration, a variable frame rate kept. The sound is copied unchanged where MP4 holds its codec,
else encoded as AAC. Files are written under hidden temporary names and renamed when complete:
an interrupted or failed run leaves nothing under the final names.
"""
import collections
import dataclasses
import fractions
import os
import time

import av
import numpy as np

import srez_config
import srez_files
import srez_pixels
from srez_errors import UsageError, first_line

# H.264's constant quality: 18 is near transparent, so the upscale's detail is not lost. A short
# lookahead: x264's default holds ten large frames in memory for little gain here.
QUALITY, PRESET, LOOKAHEAD = '18', 'veryfast', '4'
TIME_BASE = fractions.Fraction(1, 90000)  # MPEG's clock: every frame time of a video fits it.
# Sound that MP4 holds as it is; any other is encoded as AAC.
MP4_AUDIO = frozenset({'aac', 'mp3', 'alac', 'opus', 'ac3', 'eac3', 'flac'})
PROGRESS_PERIOD = 5.0  # Seconds between progress lines.


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video holds: its frames' size once upright, their count as its header has it (or
    estimated from its duration), average frame rate, duration in seconds, the degrees they are
    turned anticlockwise to stand upright, its sound's codec ('' without), and whether its frame
    rate varies."""
    width: int
    height: int
    frames: int
    fps: fractions.Fraction
    duration: float
    rotation: int
    audio: str
    variable_rate: bool


@dataclasses.dataclass(frozen=True)
class VideoResult:
    """What `upscale_video` did: the video's VideoInfo, frames written, why the video could not
    be read past them ('' when it could), and what became of its sound ('copied', 'encoded as
    AAC', or '' without)."""
    info: VideoInfo
    frames: int
    damaged: str
    audio: str


class VideoError(UsageError):
    """A file that cannot be upscaled as a video; `reason` says why, without its path."""

    def __init__(self, path, reason):
        super().__init__(f'{path}: {reason}')
        self.reason = reason


def probe(path):
    """The VideoInfo of the video at `path`, from its header and its first frame. Raises
    VideoError when it cannot be read as a video or holds no frame."""
    with _opened(path) as container:
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as error:
            raise VideoError(path, f'cannot be read as a video ({first_line(error)})') from None
        if first is None:
            raise VideoError(path, 'holds no video frames')
        rotation = round(first.rotation or 0) % 360
        width, height = first.width, first.height
        if rotation % 180:
            width, height = height, width
        fps = fractions.Fraction(stream.average_rate or stream.guessed_rate or 25)
        duration = (float(stream.duration * stream.time_base) if stream.duration else
                    container.duration / av.time_base if container.duration else 0.0)
        base = stream.base_rate or fps
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else ''
        return VideoInfo(width, height, stream.frames or round(duration * fps), fps, duration,
                         rotation, audio, abs(float(base) - float(fps)) > 0.01 * float(fps))


def _opened(path):
    """The opened container of the video at `path`, which holds a video stream; VideoError if
    not."""
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as error:
        raise VideoError(path, f'cannot be read as a video ({first_line(error)})') from None
    if not container.streams.video:
        container.close()
        raise VideoError(path, 'holds no video stream')
    return container


class Frames:
    """The frames of the video at `path`, upright, uint8 [h, w, 3], as an iterable that keeps
    each frame's time (`times`, seconds from the first frame, in order) and stops, with the
    reason in `damaged`, where the video cannot be decoded further."""

    def __init__(self, path):
        self.path = path
        self.times = collections.deque()
        self.damaged = ''

    def __iter__(self):
        with _opened(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = 'AUTO'
            start = None
            try:
                for frame in container.decode(stream):
                    seconds = float(frame.pts * stream.time_base) if frame.pts is not None \
                        else None
                    start = seconds if start is None else start
                    self.times.append(None if seconds is None else seconds - start)
                    pixels = frame.to_ndarray(format='rgb24')
                    turns = round(frame.rotation or 0) // 90 % 4
                    yield np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels
            except av.error.FFmpegError as error:
                self.damaged = first_line(error)


class VideoWriter:
    """Frames written as H.264 (yuv420p) in an MP4 file, each at its time."""

    def __init__(self, path, width, height, fps):
        self._container = av.open(path, 'w', format='mp4')
        self._stream = self._container.add_stream('libx264', rate=fps)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = 'yuv420p'
        self._stream.options = {'crf': QUALITY, 'preset': PRESET, 'rc-lookahead': LOOKAHEAD}
        self._stream.codec_context.time_base = TIME_BASE
        self._fps, self._count, self._last = fps, 0, -1

    def write(self, pixels, seconds=None):
        """Writes uint8 `pixels` [h, w, 3] at `seconds` from the first frame (None: the next
        frame at the average rate)."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format='rgb24')
        pts = round((seconds if seconds is not None else self._count / self._fps) / TIME_BASE)
        frame.pts = self._last = max(pts, self._last + 1)  # Times must grow.
        frame.time_base = TIME_BASE
        self._container.mux(self._stream.encode(frame))
        self._count += 1

    def close(self):
        self._container.mux(self._stream.encode(None))
        self._container.close()


def add_sound(video_path, sound_path, output_path):
    """Writes `output_path`: the video of `video_path` and the first sound track of `sound_path`,
    copied unchanged where MP4 holds its codec, else encoded as AAC. Returns which."""
    with av.open(video_path) as video, av.open(sound_path) as source, \
            av.open(output_path, 'w', format='mp4') as output:
        video_in, sound_in = video.streams.video[0], source.streams.audio[0]
        video_out = output.add_stream_from_template(video_in)
        copy = sound_in.codec_context.name in MP4_AUDIO
        sound_out = (output.add_stream_from_template(sound_in) if copy else output.add_stream(
            'aac', rate=sound_in.codec_context.sample_rate or 44100))
        for packet in video.demux(video_in):
            if packet.dts is not None:
                packet.stream = video_out
                output.mux(packet)
        try:
            for packet in source.demux(sound_in):
                if packet.dts is None:
                    continue
                if copy:
                    packet.stream = sound_out
                    output.mux(packet)
                    continue
                for frame in packet.decode():
                    frame.pts = None
                    output.mux(sound_out.encode(frame))
        except av.error.FFmpegError:
            pass  # A damaged file's sound: what could be read of it.
        if not copy:
            output.mux(sound_out.encode(None))
    return 'copied' if copy else 'encoded as AAC'


def upscale_video(upscale_frames, source, target, compare=None, log=None):
    """Upscales the video `source` into the MP4 file `target`; with `compare` (a path), also
    writes the input nearest-upscaled | bicubic | srez side by side there.

    upscale_frames: a function of the frames (an iterable of uint8 [h, w, 3]) that yields a
    srez_photo.PhotoResult for each, in order (srez_photo.PhotoPipeline.upscale_frames). log:
    called with a progress line now and then. Returns a VideoResult. Raises VideoError when the
    video cannot be read or holds no frame, and KeyboardInterrupt (after saying how far it got)
    when interrupted; nothing is then left under either name.
    """
    info = probe(source)
    targets = [target] + ([compare] if compare else [])
    for path in targets:
        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    partials = [srez_files.partial_path(path) for path in targets]
    sounds = [srez_files.partial_path(path, 'silent') for path in targets]
    frames = Frames(source)
    progress = _Progress(os.path.basename(source), info.frames, log)
    try:
        writers = [VideoWriter(sounds[0] if info.audio else partials[0], 4 * info.width,
                               4 * info.height, info.fps)]
        if compare:
            writers.append(VideoWriter(sounds[1] if info.audio else partials[1],
                                       3 * 4 * info.width, 4 * info.height, info.fps))
        _write_frames(upscale_frames, frames, writers, progress)
        for writer in writers:
            writer.close()
        audio = ''
        if info.audio:
            for sound, partial in zip(sounds, partials):
                audio = add_sound(sound, source, partial)
        for partial, path in zip(partials, targets):
            os.replace(partial, path)
    except KeyboardInterrupt:
        progress.say(f'interrupted at frame {progress.done} of {info.frames}: nothing written '
                     f'under {target}')
        raise
    finally:
        for path in partials + sounds:
            if os.path.exists(path):
                os.remove(path)
    damaged = frames.damaged or (f'its header announces {info.frames} frames'
                                 if progress.done < info.frames - 1 else '')
    return VideoResult(info, progress.done, damaged, audio)


def _write_frames(upscale_frames, frames, writers, progress):
    """Upscales `frames` (a Frames) by `upscale_frames` and writes them with `writers` (the
    upscale, and the comparison if there is a second)."""
    inputs = collections.deque()  # The frames in, until their upscales come out.

    def kept(source):
        for frame in source:
            inputs.append(frame)
            yield frame

    for result in upscale_frames(kept(frames)):
        frame, seconds = inputs.popleft(), frames.times.popleft()
        writers[0].write(result.image, seconds)
        if len(writers) > 1:
            scale = srez_config.SCALE
            nearest = np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)
            writers[1].write(np.concatenate([nearest, srez_pixels.bicubic_in_windows(frame),
                                             result.image], 1), seconds)
        progress.advance()


class _Progress:
    """Lines saying how far a video got: frames done of its frames, frames/s, time left."""

    def __init__(self, name, total, log):
        self.name, self.total, self.log = name, total, log
        self.done = 0
        self.start = self._last = time.monotonic()

    def say(self, line):
        if self.log:
            self.log(f'{self.name}: {line}.')

    def advance(self):
        self.done += 1
        now = time.monotonic()
        if now - self._last >= PROGRESS_PERIOD:
            rate = self.done / max(now - self.start, 1e-9)
            left = max(self.total - self.done, 0) / max(rate, 1e-9)
            self.say(f'{self.done}/{self.total} frames, {rate:.1f} frames/s, {left:.0f} s left')
            self._last = now
