"""Video clips for the video pipeline: faces small and still or drifting by fractions of a pixel,
camera noise, H.264, a sound track. Used by the tests and by tools/video_figures.py
(docs/video.md); the faces are aligned 178x218 images, the background any picture."""
import math

import av
import numpy as np

import photos

SOUND_RATE = 44100


def render(faces, background, size, count, drift, frame_sides=(14, 20), max_angle=10, seed=0):
    """The truth of a clip: uint8 [count, 4h, 4w, 3] frames of `size` (w, h) x 4, `faces` (each
    its frame of frame_sides px in the small frame) placed apart and moving `drift` small pixels
    a frame in a direction of their own (0: still); and the PlacedFaces of each frame."""
    rng = np.random.default_rng(seed)
    width, height = size
    still = photos.enlarged(background, size)
    starts = []
    for _ in faces:
        side = rng.uniform(*frame_sides)
        reach = side + drift * count
        centre = photos.free_place(rng, starts, side, width, height, margin=reach)
        starts.append(photos.PlacedFace(centre, side, rng.uniform(-max_angle, max_angle)))
    directions = rng.uniform(0, 2 * math.pi, len(faces))
    truths, placed = [], []
    for index in range(count):
        truth, here = still.copy(), []
        for face, start, direction in zip(faces, starts, directions):
            centre = (start.centre[0] + drift * index * math.cos(direction),
                      start.centre[1] + drift * index * math.sin(direction))
            here.append(photos.PlacedFace(centre, start.side, start.angle))
            photos.paste_face(truth, face, here[-1])
        truths.append(np.uint8(np.clip(np.round(truth), 0, 255)))
        placed.append(here)
    return np.stack(truths), placed


def write_clip(path, truths, fps=12, noise=2.0, quality=23, sound=True, seed=0, rotation=0):
    """Writes the clip whose truth is `truths` (uint8 [n, 4h, 4w, 3]) at `path`: each frame the
    4x area downscale, with camera noise of `noise`/255, as H.264 of constant quality `quality`
    at `fps`, with a tone as its AAC sound; `rotation`: the degrees a player turns it
    anticlockwise (the frames are stored turned the other way, as a phone stores them)."""
    rng = np.random.default_rng(seed)
    small = [truth.reshape(truth.shape[0] // 4, 4, truth.shape[1] // 4, 4, 3).mean((1, 3))
             for truth in truths]
    frames = [np.uint8(np.clip(np.round(frame + rng.normal(0, noise, frame.shape)), 0, 255))
              for frame in small]
    frames = [np.ascontiguousarray(np.rot90(frame, -rotation // 90)) for frame in frames]
    with av.open(path, 'w') as container:
        video = container.add_stream('libx264', rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt, video.options = 'yuv420p', {'crf': str(quality)}
        if rotation:
            video.set_display_rotation(rotation)
        audio = container.add_stream('aac', rate=SOUND_RATE) if sound else None
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        container.mux(video.encode(None))
        if audio:
            seconds = len(frames) / fps
            tone = 0.2 * np.sin(2 * math.pi * 440 * np.arange(int(seconds * SOUND_RATE))
                                / SOUND_RATE)
            chunk = av.AudioFrame.from_ndarray(tone.astype(np.float32)[np.newaxis], format='fltp',
                                               layout='mono')
            chunk.sample_rate, chunk.pts = SOUND_RATE, 0
            container.mux(audio.encode(chunk))
            container.mux(audio.encode(None))
    return np.stack(small)


def read_clip(path):
    """(uint8 [n, h, w, 3] frames, frame rate, frame times in seconds, sound codec or '')."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames, times = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format='rgb24'))
            times.append(float(frame.pts * stream.time_base))
        sound = container.streams.audio[0].codec_context.name if container.streams.audio else ''
        return np.stack(frames), stream.average_rate, times, sound
