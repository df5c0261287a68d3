"""srez_video and --run infer on videos: every frame 4x at its time, the sound kept, faces
tracked, nothing half-written, damaged files said in a line. Light install: no TensorFlow."""
import json
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest
from helpers import MAIN, REPO_ROOT, BackgroundRun
from PIL import Image

import clips
import srez_upscaler
import srez_video

ASTRONAUT_TRUTH = os.path.join(REPO_ROOT, 'docs', 'astronaut_truth.png')


def aligned_face():
    """uint8 [218, 178, 3]: the astronaut's face box (public domain) in CelebA's frame."""
    canvas = Image.new('RGB', (178, 218), (120, 110, 100))
    canvas.paste(Image.open(ASTRONAUT_TRUTH).convert('RGB').resize((128, 128), Image.BICUBIC),
                 (25, 60))
    return np.asarray(canvas)


def background(seed=0):
    rng = np.random.default_rng(seed)
    return np.asarray(Image.fromarray(rng.integers(60, 200, (12, 16, 3), np.uint8)).resize(
        (640, 480), Image.BICUBIC))


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    """A clip of two faces of 16-20 px drifting by a fifth of a pixel a frame, camera noise, a
    sound track: 20 frames of 128x96 at 10 fps."""
    folder = tmp_path_factory.mktemp('clip')
    truths, _ = clips.render([aligned_face()] * 2, background(), (128, 96), 20, 0.2,
                             frame_sides=(16, 20), seed=3)
    clips.write_clip(str(folder / 'clip.mp4'), truths, fps=10)
    return folder / 'clip.mp4'


def run(args, cwd, **options):
    return subprocess.run([sys.executable, MAIN, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, **options)


def test_a_clip_through_the_cli_keeps_its_frames_rate_duration_and_sound(clip, tmp_path):
    result = run(['--run', 'infer', '--input', str(clip), '--output', 'out', '--compare'],
                 tmp_path)
    assert result.returncode == 0, result.stderr
    frames, fps, times, sound = clips.read_clip(str(clip))
    upscaled, upscaled_fps, upscaled_times, upscaled_sound = clips.read_clip(
        str(tmp_path / 'out' / 'clip.mp4'))
    assert upscaled.shape == (len(frames), 4 * 96, 4 * 128, 3)
    assert upscaled_fps == fps and upscaled_sound == sound == 'aac'
    np.testing.assert_allclose(upscaled_times, times, atol=1e-3)
    with av.open(str(clip)) as source, av.open(str(tmp_path / 'out' / 'clip.mp4')) as output:
        assert output.streams.video[0].codec_context.name == 'h264'
        assert output.streams.video[0].codec_context.pix_fmt == 'yuv420p'
        # The sound is copied unchanged: the same packets.
        assert ([bytes(packet) for packet in source.demux(audio=0)]
                == [bytes(packet) for packet in output.demux(audio=0)])
    compared = clips.read_clip(str(tmp_path / 'out' / 'clip_compare.mp4'))[0]
    assert compared.shape == (len(frames), 4 * 96, 3 * 4 * 128, 3)
    record = json.loads((tmp_path / 'out' / 'faces.json').read_text())['clip.mp4']
    assert record['frames'] == len(frames) and record['fps'] == 10
    assert sum(track['used'] for track in record['tracks']) == 2
    assert '[1/1] clip.mp4: 20 frames at 10 fps, 2 faces tracked, 2 upscaled by the model; sound ' \
           'copied.' in result.stdout


def test_a_video_in_a_folder_beside_pictures_and_a_named_output(clip, tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    os.symlink(clip, folder / 'clip.mp4')
    Image.fromarray(background()[:40, :50]).save(folder / 'photo.png')
    assert run(['--run', 'infer', '--input', str(folder), '--output', 'out'],
               tmp_path).returncode == 0
    assert sorted(os.listdir(tmp_path / 'out')) == ['clip.mp4', 'faces.json', 'photo.png']
    assert run(['--run', 'infer', '--input', str(clip), '--output', 'named/mine.mp4'],
               tmp_path).returncode == 0
    assert os.listdir(tmp_path / 'named') == ['mine.mp4', 'faces.json'] or sorted(
        os.listdir(tmp_path / 'named')) == ['faces.json', 'mine.mp4']


def test_the_frames_api_and_a_rotated_phone_video(tmp_path):
    truths, _ = clips.render([aligned_face()], background(1), (64, 48), 6, 0.0, seed=1)
    path = str(tmp_path / 'phone.mp4')
    small = clips.write_clip(path, truths, fps=6, sound=False, rotation=90)
    assert srez_video.probe(path).rotation == 90
    # Stored sideways, shown upright: the frames come out as the camera saw them.
    frames = list(srez_video.Frames(path))
    assert frames[0].shape == small[0].shape  # Stored 48x64, turned.
    error = np.abs(frames[0].astype(float) - small[0]).mean()
    assert error < 10 and error < 0.5 * np.abs(frames[0].astype(float)
                                                - np.rot90(small[0], 2)).mean()
    upscaler = srez_upscaler.Upscaler()
    results = list(upscaler.upscale_frames(frames))
    assert len(results) == 6 and results[0].image.shape == (4 * 48, 4 * 64, 3)
    result = upscaler.upscale_video(path, str(tmp_path / 'upright.mp4'))
    assert (result.frames, result.audio, result.damaged) == (6, '', '')
    assert clips.read_clip(str(tmp_path / 'upright.mp4'))[0].shape == (6, 4 * 48, 4 * 64, 3)


def test_a_variable_frame_rate_keeps_every_frames_time(tmp_path):
    path = str(tmp_path / 'vfr.mp4')
    times = [0.0, 0.1, 0.15, 0.4, 0.45, 0.9]
    with av.open(path, 'w') as container:
        stream = container.add_stream('libx264', rate=20)
        stream.width, stream.height, stream.pix_fmt = 64, 48, 'yuv420p'
        stream.codec_context.time_base = srez_video.TIME_BASE
        for index, seconds in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * index, np.uint8),
                                               format='rgb24')
            frame.pts, frame.time_base = round(seconds * 90000), srez_video.TIME_BASE
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    srez_upscaler.Upscaler().upscale_video(path, str(tmp_path / 'out.mp4'))
    np.testing.assert_allclose(clips.read_clip(str(tmp_path / 'out.mp4'))[2], times, atol=1e-3)


def test_damaged_and_empty_videos_are_one_line_each(tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    truths, _ = clips.render([aligned_face()], background(4), (64, 48), 30, 0.0, seed=4)
    clips.write_clip(str(tmp_path / 'whole.mkv'), truths, fps=10)
    clips.write_clip(str(tmp_path / 'whole.mp4'), truths, fps=10)
    for name, cut in (('whole.mkv', 'cut.mkv'), ('whole.mp4', 'cutoff.mp4')):
        data = (tmp_path / name).read_bytes()  # Recordings cut short: their ends are missing.
        (folder / cut).write_bytes(data[:len(data) * 2 // 3])
    (folder / 'noise.mov').write_bytes(os.urandom(5000))
    with av.open(str(folder / 'empty.mp4'), 'w') as container:
        stream = container.add_stream('libx264', rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, 'yuv420p'
        container.start_encoding()
    result = run(['--run', 'infer', '--input', str(folder), '--output', 'out'], tmp_path)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    # MP4 keeps its index at the end: cut short, it is no video at all.
    for name, reason in (('cutoff.mp4', 'cannot be read as a video'),
                         ('noise.mov', 'cannot be read as a video'),
                         ('empty.mp4', 'holds no video')):
        assert f'srez: skipped {folder}/{name}: {reason}' in result.stderr
    # A stream's frames before the damage are written, and the line says so.
    line = next(line for line in result.stdout.splitlines() if '] cut.mkv: ' in line)
    written = int(line.split('] cut.mkv: ')[1].split(' frames')[0])
    assert 0 < written < 30 and 'the video is damaged after frame' in line
    assert sorted(os.listdir(tmp_path / 'out')) == ['cut.mp4', 'faces.json']
    assert clips.read_clip(str(tmp_path / 'out' / 'cut.mp4'))[0].shape[0] == written


def test_ctrl_c_in_the_middle_of_a_video_leaves_nothing_under_its_name(tmp_path):
    truths, _ = clips.render([aligned_face()], background(2), (96, 64), 120, 0.1, seed=2)
    clips.write_clip(str(tmp_path / 'long.mp4'), truths, fps=12)
    run_ = BackgroundRun(tmp_path / 'log.txt', ['--run', 'infer', '--input', 'long.mp4',
                                               '--output', 'out'], cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (tmp_path / 'out').is_dir() or not os.listdir(tmp_path / 'out'):
        assert run_.process.poll() is None and time.monotonic() < deadline, run_.output
        time.sleep(0.01)
    run_.process.send_signal(signal.SIGINT)
    assert run_.wait() == 130
    assert 'long.mp4: interrupted at frame ' in run_.output
    assert 'nothing written under out/long.mp4' in run_.output
    assert os.listdir(tmp_path / 'out') == []
