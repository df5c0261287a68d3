"""Composite photos for the face pipeline: CelebA faces, small, turned, on real backgrounds.

`composite(faces, background, ...)` pastes aligned 178x218 face images into a large photo (the
truth) at random places, sizes and angles, and returns it with where each face's frame lies; the
photo a user would bring is its 4x area downscale. Used by the tests and by the measurement in
docs/faces.md; the backgrounds are scikit-image's sample pictures or any array.
"""
import dataclasses
import os

import numpy as np
from PIL import Image

FRAME_X, FRAME_Y, FRAME_SIZE = 25, 60, 128  # The model's frame in CelebA's aligned images.
CELEBA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..', 'shared',
                      'celeba')
FIRST_VALIDATION_ID = 162771  # CelebA's validation partition, which no model trained on.
BACKGROUNDS = ('coffee', 'chelsea', 'rocket', 'astronaut', 'hubble_deep_field',
               'immunohistochemistry')  # Public-domain pictures of scikit-image.


def validation_faces(start, count):
    """`count` CelebA validation faces (uint8 [218, 178, 3]) from the `start`-th, in name order."""
    names = [name for name in sorted(os.listdir(CELEBA)) if int(name[:6]) >= FIRST_VALIDATION_ID]
    return [np.asarray(Image.open(os.path.join(CELEBA, name)).convert('RGB'))
            for name in names[start % len(names):][:count]]


def picture(name):
    """scikit-image's sample picture `name` as uint8 [h, w, 3]."""
    import skimage.data  # The measurements' backgrounds only: the tests bring their own.

    image = np.asarray(getattr(skimage.data, name)())
    if image.dtype != np.uint8:  # Booleans and floats of some pictures.
        image = np.uint8(image.astype(np.float64) / max(image.max(), 1e-9) * 255)
    return np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]


def enlarged(background, size):
    """`background` resized bicubic to 4x `size` (w, h): float32, the truth's canvas."""
    return np.asarray(Image.fromarray(background).resize((4 * size[0], 4 * size[1]),
                                                         Image.BICUBIC), np.float32)


@dataclasses.dataclass
class PlacedFace:
    """Where a pasted face's frame lies in the small photo: centre (x, y), side, angle (deg)."""
    centre: tuple
    side: float
    angle: float


def composite(faces, background, size=(640, 480), frame_sides=(14, 20), max_angle=15, seed=0):
    """(truth uint8 [4h, 4w, 3], photo uint8 [h, w, 3], [PlacedFace]) for a photo of `size`
    (w, h) whose faces are `faces` (uint8 [218, 178, 3] each) on `background` (uint8 [H, W, 3]).

    Each face's frame is frame_sides[0]..[1] pixels in the photo, turned by up to max_angle
    degrees, at a place where it overlaps no other; a feathered ellipse blends it in.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    truth = enlarged(background, size)
    placed = []
    for face in faces:
        side = rng.uniform(*frame_sides)
        angle = rng.uniform(-max_angle, max_angle)
        centre = free_place(rng, placed, side, width, height)
        if centre is None:
            break  # The photo is full.
        placed.append(PlacedFace(centre, side, angle))
        paste_face(truth, face, PlacedFace(centre, side, angle))
    truth = np.uint8(np.clip(np.round(truth), 0, 255))
    photo = truth.reshape(height, 4, width, 4, 3).astype(np.float32).mean((1, 3))  # Area, 4x.
    return truth, np.uint8(np.clip(np.round(photo), 0, 255)), placed


def free_place(rng, placed, side, width, height, margin=None, tries=200):
    """A centre (x, y) for a frame of `side` px, `margin` (default: `side`) from the photo's
    edges and apart from the `placed` frames; None where none is found."""
    margin = side if margin is None else margin
    for _ in range(tries):
        centre = (rng.uniform(margin, width - margin), rng.uniform(margin, height - margin))
        if all(np.hypot(centre[0] - other.centre[0], centre[1] - other.centre[1])
               > 0.8 * (side + other.side) for other in placed):
            return centre
    return None


def paste_face(truth, face, place):
    """Blends `face` into `truth` (float32, 4x the photo) with its frame where `place` says."""
    scale = 4 * place.side / FRAME_SIZE  # truth pixels per face-image pixel
    angle = np.radians(place.angle)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = 4 * np.asarray(place.centre)
    frame_centre = np.array([FRAME_X + FRAME_SIZE / 2, FRAME_Y + FRAME_SIZE / 2])
    reach = int(np.ceil(4 * place.side))
    left, top = int(centre[0]) - reach, int(centre[1]) - reach
    # Two by two samples a pixel, averaged: the face is shrunk without aliasing, as optics do.
    rows, columns = np.mgrid[2 * top:2 * (top + 2 * reach), 2 * left:2 * (left + 2 * reach)]
    rows, columns = (rows + 0.5) / 2, (columns + 0.5) / 2
    offsets = np.stack([columns - centre[0], rows - centre[1]], -1) @ rotation / scale
    source = offsets + frame_centre  # In the face image's pixels.
    inside = ((source[..., 0] >= 0.5) & (source[..., 0] < face.shape[1] - 0.5)
              & (source[..., 1] >= 0.5) & (source[..., 1] < face.shape[0] - 0.5))
    # An ellipse a little larger than the frame, fading over its outer fifth.
    ellipse = np.hypot(offsets[..., 0] / 72, offsets[..., 1] / 88)
    mask = _halve(np.clip((1.0 - ellipse) / 0.2, 0, 1) * inside)
    sampled = _halve(_bilinear(face.astype(np.float32), source[..., 0] - 0.5,
                               source[..., 1] - 0.5))
    window = truth[max(top, 0):top + 2 * reach, max(left, 0):left + 2 * reach]
    crop = (slice(max(-top, 0), max(-top, 0) + window.shape[0]),
            slice(max(-left, 0), max(-left, 0) + window.shape[1]))
    blend = mask[crop][..., None]
    window[:] = window * (1 - blend) + sampled[crop] * blend


def _halve(image):
    """The mean of each 2x2 block."""
    return image.reshape(image.shape[0] // 2, 2, image.shape[1] // 2, 2, *image.shape[2:]).mean(
        axis=(1, 3))


def _bilinear(image, x, y):
    x = np.clip(x, 0, image.shape[1] - 1.001)
    y = np.clip(y, 0, image.shape[0] - 1.001)
    x0, y0 = x.astype(int), y.astype(int)
    dx, dy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - dx) + image[y0, x0 + 1] * dx
    bottom = image[y0 + 1, x0] * (1 - dx) + image[y0 + 1, x0 + 1] * dx
    return top * (1 - dy) + bottom * dy


def found(placed, record, tolerance=0.35):
    """Which of the `placed` faces the faces record of their photo found: a detected face whose
    landmarks' centre lies within tolerance * side of the frame's centre."""
    centres = [np.mean(face['landmarks'], axis=0) for face in record['faces']]
    return [any(np.hypot(*(centre - np.asarray(place.centre))) < tolerance * place.side
                for centre in centres) for place in placed]
