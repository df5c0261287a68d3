"""Demo: turn the sample grids written during training into a movie.

Training writes a grid of faces, a row per test face with 4 columns (nearest | bicubic | srez
output | truth), to `train_dir/batchNNNNNN_out.png` every few hundred batches. `make_movie`
stitches those grids, in batch order, into `train_dir/demo1.mp4`, so one can watch the generator
learn. It needs no dataset, no checkpoint
and no TensorFlow: only the PNGs that training left behind.

    python srez_main.py --run demo
"""

import math
import os
import re

import numpy as np
from moviepy import ImageSequenceClip
from PIL import Image

import srez_files
from srez_errors import UsageError

MOVIE_NAME = "demo1.mp4"
# A short run leaves few grids: each is then held longer, so that the movie lasts this long.
MIN_MOVIE_SECONDS = 3.0

# A grid is `batch<number>_out<anything>.png`; the suffix allows names such as
# `batch000200_out-1.png` that a second run may have written next to the first.
_GRID_NAME = re.compile(r"^batch(\d+)_out(.*)\.png$")


def _grid_order(filename: str) -> tuple:
    """Sort key that keeps batch order even when numbers or suffixes differ in width."""
    match = _GRID_NAME.match(filename)
    batch_number, suffix = int(match.group(1)), match.group(2)
    # Natural order on the suffix: "" < "-1" < "-2" < "-10", so a plain name comes before its
    # numbered variants and "-10" does not sort before "-2".
    suffix_key = tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", suffix))
    return batch_number, suffix_key


def find_grids(train_dir: str) -> list[str]:
    """Lists the sample grids in `train_dir` in batch order.

    Args:
        train_dir: folder that training writes `batch*_out*.png` grids into.

    Returns:
        Paths of the grids, oldest batch first; empty if there are none or the folder is missing.
    """
    if not os.path.isdir(train_dir):
        return []
    names = [name for name in os.listdir(train_dir) if _GRID_NAME.match(name)]
    return [os.path.join(train_dir, name) for name in sorted(names, key=_grid_order)]


def _load_frame(path: str) -> np.ndarray:
    """Reads one grid as uint8 [height, width, 3], padded with black to even height and width.

    yuv420p stores colour at half resolution, so libx264 refuses odd dimensions.
    """
    with Image.open(path) as image:
        # convert("RGB") also handles grey, palette and RGBA grids; the movie has no alpha.
        pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    return np.pad(pixels, ((0, height % 2), (0, width % 2), (0, 0)))


def run_demo(config):
    """--run demo: the movie of the sample grids in config.train_dir (a srez_config.DemoConfig)."""
    make_movie(config.train_dir)


def make_movie(train_dir: str, fps: int = 30) -> str:
    """Stitches the sample grids in `train_dir` into `train_dir/demo1.mp4`.

    Grids are taken in batch order, one per frame, or each held for several frames when there are
    too few for MIN_MOVIE_SECONDS (a short run's). A run with other settings makes grids of
    another size; only grids the size of the newest one (last modified) are used, and a printed
    line says how many were left out. The movie is H.264 in yuv420p with no audio, so browsers
    play it. It is written to a temporary file in `train_dir` and then renamed, so a failed write
    never replaces a good movie. Nothing else in `train_dir` is changed.

    All frames are held in memory: about height * width * 3 bytes each (384 KiB for a 256x512
    grid), which is small for the few hundred grids a training run writes.

    Args:
        train_dir: folder holding the `batch*_out*.png` grids written by training.
        fps: frames per second of the movie.

    Returns:
        Path of the movie, `train_dir/demo1.mp4`.

    Raises:
        ValueError: if `fps` is not positive.
        UsageError: if `train_dir` is missing or holds no grids.
    """
    if fps <= 0:
        raise ValueError(f"fps must be a positive number of frames per second, got {fps}.")
    grid_paths = find_grids(train_dir)
    if not grid_paths:
        raise UsageError(
            f"No sample grids (batch*_out.png) in {os.path.join(train_dir, '')}: "
            "run `python srez_main.py --run train` first."
        )
    kept_paths = _grids_sized_like_the_newest(train_dir, grid_paths)
    held = max(1, math.ceil(MIN_MOVIE_SECONDS * fps / len(kept_paths)))  # Frames per grid.
    # moviepy finds a frame's grid, and counts the frames, by comparing times: every grid starts
    # half a frame early and the movie ends a quarter frame late, so that float rounding cannot
    # move a frame across a boundary or drop the last.
    durations = [held / fps] * len(kept_paths)
    durations[0], durations[-1] = durations[0] - 0.5 / fps, durations[-1] + 0.75 / fps
    clip = ImageSequenceClip([_load_frame(path) for path in kept_paths], durations=durations)
    movie_path = os.path.join(train_dir, MOVIE_NAME)
    try:
        srez_files.write_atomically(movie_path, lambda partial: _write(clip, partial, fps))
    finally:
        clip.close()
    width, height = clip.size
    seconds = held * len(kept_paths) / fps
    grids = f"{len(kept_paths)} grid{'s' * (len(kept_paths) != 1)}"
    print(f"Wrote {movie_path}: {grids} over {seconds:.1f} s, {width}x{height}, {fps} fps.")
    return movie_path


def _write(clip, path, fps):
    """Writes `clip` as an H.264 movie at `path` that browsers play."""
    clip.write_videofile(
        path, fps=fps, codec="libx264", audio=False, logger=None,
        # moviepy (2.1, 2.2) ignores its own `pixel_format` for the output, so ask ffmpeg
        # directly; faststart puts the index first so a browser starts playing at once.
        ffmpeg_params=["-pix_fmt", "yuv420p", "-movflags", "+faststart"])


def _grids_sized_like_the_newest(train_dir: str, grid_paths: list[str]) -> list[str]:
    """The grids of `grid_paths` the size of the newest (last modified); says how many are not."""
    # Image.open reads only the header, so sizing every grid is cheap.
    sizes = {}
    for path in grid_paths:
        with Image.open(path) as image:
            sizes[path] = image.size
    newest_path = max(grid_paths, key=os.path.getmtime)
    kept_paths = [path for path in grid_paths if sizes[path] == sizes[newest_path]]
    left_out = len(grid_paths) - len(kept_paths)
    if left_out:
        width, height = sizes[newest_path]
        print(
            f"Left out {left_out} of {len(grid_paths)} grids in {train_dir} that are not "
            f"{width}x{height} like the newest grid ({os.path.basename(newest_path)})."
        )
    return kept_paths
