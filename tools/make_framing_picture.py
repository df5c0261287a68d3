"""Makes docs/framing.png, the README's picture of the frame an aligned face must have, from a
public-domain picture only (scikit-image's `astronaut`, NASA's portrait of Eileen Collins).

    pip install scikit-image && python tools/make_framing_picture.py

Left: the picture re-aligned into CelebA's 178x218 frame (srez_align, the project's detector),
the model's 128x128 box drawn at x=25, y=60. Middle: that box area-shrunk to 16x16, what the
model takes, shown 12x. Right: the same face cut another way (the whole head, as FFHQ frames it),
shrunk to 16x16: a face framed so is no aligned face, and goes through the photo path instead.
"""
import os
import sys

import numpy as np
import skimage.data
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import srez_align  # noqa: E402
import srez_detect  # noqa: E402
import srez_faces  # noqa: E402

SHOWN = 12  # Each input pixel as SHOWN x SHOWN.
GAP = 12


def make_framing_picture():
    picture = skimage.data.astronaut()
    detector = srez_detect.Mtcnn()
    row = detector.detect(picture.astype(np.float32), thresholds=srez_align.THRESHOLDS)[0]
    face = srez_faces.Face(box=list(row[:4]), score=float(row[4]),
                           landmarks=np.stack([row[5:10], row[10:15]], 1) + 0.5)
    aligned = srez_align.cut_aligned(picture, srez_align.frame_matrix(face))[..., :3]
    box = aligned[60:188, 25:153]
    small = np.asarray(Image.fromarray(box).resize((16, 16), Image.BOX))
    # FFHQ's framing: the whole head and some background, about twice the box's side.
    wide = srez_align.frame_matrix(face)
    centre = np.linalg.inv(wide[:, :2]) @ (np.array([89, 124]) - wide[:, 2])
    side = 2.0 * 128 / np.sqrt(abs(np.linalg.det(wide[:, :2])))
    other = Image.fromarray(picture).crop((int(centre[0] - side / 2), int(centre[1] - side / 2),
                                           int(centre[0] + side / 2), int(centre[1] + side / 2)))
    other = np.asarray(other.resize((16, 16), Image.BOX))
    height = 16 * SHOWN
    left = Image.fromarray(aligned).resize((178 * height // 218, height), Image.BICUBIC)
    canvas = Image.new('RGB', (left.width + 2 * (height + GAP), height), 'white')
    canvas.paste(left, (0, 0))
    scale = height / 218
    ImageDraw.Draw(canvas).rectangle([25 * scale, 60 * scale, 153 * scale, 188 * scale],
                                     outline=(255, 60, 60), width=2)
    for index, image in enumerate((small, other)):
        canvas.paste(Image.fromarray(image).resize((height, height), Image.NEAREST),
                     (left.width + GAP + index * (height + GAP), 0))
    canvas.save(os.path.join(os.path.dirname(HERE), 'docs', 'framing.png'))


if __name__ == '__main__':
    make_framing_picture()
