"""Makes docs/video_still.png, the README's picture of a video's faces: a frame of a clip made
from docs/group_photo.png (public-domain pictures only), drifting by a pixel every 4 frames with
camera noise, saved as H.264, and upscaled by --run infer --compare: bicubic | srez, a crop
around two faces, shown at 2x.

    python tools/make_video_still.py
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, 'tests')]

import clips  # noqa: E402

FRAMES, SHOWN = 24, 12  # The clip's frames, and the one shown.
CROP = (100, 0, 300, 110)  # Of the small frame: left, top, right, bottom.


def make_video_still():
    photo = np.asarray(Image.open(os.path.join(ROOT, 'docs', 'group_photo.png')).convert('RGB'))
    with tempfile.TemporaryDirectory() as folder:
        clip = os.path.join(folder, 'group.mp4')
        frames = [np.roll(photo, (index // 4, index // 4), axis=(0, 1)) for index in range(FRAMES)]
        truths = np.stack([np.repeat(np.repeat(frame, 4, 0), 4, 1) for frame in frames])
        clips.write_clip(clip, truths, fps=12, noise=2.0, sound=False, seed=0)
        subprocess.run([sys.executable, os.path.join(ROOT, 'srez_main.py'), '--run', 'infer',
                        '--input', clip, '--output', os.path.join(folder, 'out'), '--compare'],
                       check=True, cwd=folder, stdout=subprocess.DEVNULL)
        compared = clips.read_clip(os.path.join(folder, 'out', 'group_compare.mp4'))[0][SHOWN]
    width = compared.shape[1] // 3
    left, top, right, bottom = (4 * value for value in CROP)
    panels = [compared[top:bottom, offset + left:offset + right] for offset in (width, 2 * width)]
    still = np.concatenate([panels[0], np.full((bottom - top, 8, 3), 255, np.uint8), panels[1]], 1)
    Image.fromarray(still).quantize(256).save(os.path.join(ROOT, 'docs', 'video_still.png'),
                                              optimize=True)


if __name__ == '__main__':
    make_video_still()
