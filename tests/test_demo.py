"""Tests for srez_demo: the movie made from training's sample grids."""

import os
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

import srez_demo

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)
# H.264 in yuv420p is lossy; solid colours come back within a few levels.
COLOUR_TOLERANCE = 16


def write_grid(folder, name, colour, size=(64, 32), mtime=None):
    """Writes a solid-colour grid of `size` (width, height); `mtime` fixes its age."""
    path = os.path.join(folder, name)
    Image.new("RGB", size, colour).save(path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def read_movie(path):
    """Returns (frames uint8 [count, height, width, 3], ffmpeg's metadata of the video stream)."""
    reader = imageio_ffmpeg.read_frames(path)
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(frame, np.uint8).reshape(height, width, 3) for frame in reader]
    return np.stack(frames), meta


def assert_colours(frames, colours):
    """The grids follow in order, each held for the same number of frames, and each frame's mean
    colour is close to its grid's."""
    assert len(frames) % len(colours) == 0
    held = len(frames) // len(colours)
    for index, frame in enumerate(frames):
        mean, colour = frame.reshape(-1, 3).mean(axis=0), colours[index // held]
        assert np.allclose(mean, colour, atol=COLOUR_TOLERANCE), (index, mean, colour)


def test_movie_shows_the_grids_in_batch_order(tmp_path):
    train_dir = str(tmp_path)
    # Written out of order, with a suffixed name and a 7-digit batch, which a plain name sort
    # would misplace ("batch000200_out-1.png" sorts before "batch000200_out.png").
    write_grid(train_dir, "batch1000000_out.png", WHITE)
    write_grid(train_dir, "batch000200_out-1.png", BLUE)
    write_grid(train_dir, "batch000100_out.png", RED)
    write_grid(train_dir, "batch000200_out.png", GREEN)
    # Not grids: left alone and not in the movie.
    write_grid(train_dir, "batch000150_in.png", BLACK)
    (tmp_path / "checkpoint.txt").write_text("keep me")
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    movie_path = srez_demo.make_movie(train_dir, fps=10)

    assert movie_path == os.path.join(train_dir, "demo1.mp4")
    frames, meta = read_movie(movie_path)
    # Four grids are too few for a movie at 10 fps: each is held for 8 frames (3.2 s in all).
    assert frames.shape == (32, 32, 64, 3)
    assert meta["fps"] == 10
    assert_colours(frames, [RED, GREEN, BLUE, WHITE])
    # Only demo1.mp4 was added; no temporary file left behind, nothing else changed.
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert set(after) == set(before) | {"demo1.mp4"}
    assert all(after[name] == content for name, content in before.items())


def test_movie_plays_in_browsers_even_for_odd_sizes(tmp_path):
    write_grid(str(tmp_path), "batch000000_out.png", RED, size=(63, 33))
    write_grid(str(tmp_path), "batch000200_out.png", BLUE, size=(63, 33))

    frames, meta = read_movie(srez_demo.make_movie(str(tmp_path)))

    assert meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")
    assert meta["fps"] == 30
    # Padded to even by one black row and column; the picture itself is intact.
    assert frames.shape[1:] == (34, 64, 3)
    assert_colours(frames[:, :32, :62], [RED, BLUE])


def test_only_grids_the_size_of_the_newest_are_used(tmp_path, capsys):
    train_dir = str(tmp_path)
    # An older run with larger grids, then the current run; the older run has higher batches.
    write_grid(train_dir, "batch000100_out.png", RED, size=(64, 64), mtime=1_000)
    write_grid(train_dir, "batch000200_out.png", RED, size=(64, 64), mtime=1_001)
    write_grid(train_dir, "batch000300_out.png", RED, size=(64, 64), mtime=1_002)
    write_grid(train_dir, "batch000000_out-1.png", GREEN, mtime=2_000)
    write_grid(train_dir, "batch000200_out-1.png", BLUE, mtime=2_001)

    frames, _ = read_movie(srez_demo.make_movie(train_dir, fps=10))

    assert_colours(frames, [GREEN, BLUE])
    assert "Left out 3 of 5 grids" in capsys.readouterr().out


@pytest.mark.parametrize("grids", [1, 2, 200])
def test_a_short_run_makes_a_movie_that_lasts_and_a_long_one_a_frame_a_grid(tmp_path, grids,
                                                                            capsys):
    for batch in range(grids):
        write_grid(str(tmp_path), f"batch{batch:06d}_out.png", RED)

    frames, _ = read_movie(srez_demo.make_movie(str(tmp_path), fps=30))

    assert len(frames) == max(grids, 90)  # At least srez_demo.MIN_MOVIE_SECONDS, 3 s.
    seconds = len(frames) / 30
    assert f"{grids} grid{'s' * (grids > 1)} over {seconds:.1f} s" in capsys.readouterr().out


@pytest.mark.parametrize("make_dir", [True, False])
def test_no_grids_says_to_train_first(tmp_path, make_dir):
    train_dir = tmp_path / "train"
    if make_dir:
        train_dir.mkdir()
        (train_dir / "notes.png").write_bytes(b"")

    with pytest.raises(ValueError, match=r"No sample grids .*--run train"):
        srez_demo.make_movie(str(train_dir))
    assert not (train_dir / "demo1.mp4").exists()


def test_non_positive_fps_is_rejected(tmp_path):
    write_grid(str(tmp_path), "batch000000_out.png", RED)
    with pytest.raises(ValueError, match="fps"):
        srez_demo.make_movie(str(tmp_path), fps=0)


def test_failed_write_keeps_the_previous_movie(tmp_path, monkeypatch):
    write_grid(str(tmp_path), "batch000000_out.png", RED)
    (tmp_path / "demo1.mp4").write_bytes(b"a good movie")

    def fail_midway(self, filename, **kwargs):
        with open(filename, "wb") as partial:
            partial.write(b"half a movie")
        raise OSError("disk full")

    monkeypatch.setattr(srez_demo.ImageSequenceClip, "write_videofile", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        srez_demo.make_movie(str(tmp_path))

    assert (tmp_path / "demo1.mp4").read_bytes() == b"a good movie"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "batch000000_out.png",
        "demo1.mp4",
    ]


def test_demo_does_not_import_tensorflow():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "import sys, srez_demo; print('tensorflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
