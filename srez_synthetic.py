"""srez synthetic faces: cartoon faces drawn in numpy, so srez trains and tests with no download.

`draw_synthetic_face(seed)` paints one face framed like an aligned CelebA image, so srez_input
crops it as it crops CelebA's; `synthetic_faces(seeds)` serves many of them to its pipeline.
"""
import functools

import numpy as np
import tensorflow as tf

# Faces a run without a dataset trains on (its test vectors come on top).
SYNTHETIC_TRAIN_FACES = 1024
# CelebA's "Align&Cropped" frame, srez_input.ALIGNED_HEIGHT and ALIGNED_WIDTH (a test checks they
# agree): this module imports no other, so srez_input can import it.
FRAME_HEIGHT, FRAME_WIDTH = 218, 178
# Features are placed in face-local pixel coordinates (u right, v down) whose origin sits between
# the eyes and mouth.
FACE_CENTRE_X, FACE_CENTRE_Y = 89.0, 122.0
_GRID_Y, _GRID_X = np.mgrid[0:FRAME_HEIGHT, 0:FRAME_WIDTH].astype(np.float32)

SKIN_LIGHT, SKIN_DARK = np.array([245, 210, 185]), np.array([85, 52, 35])
HAIR_COLOURS = np.array([[25, 20, 18], [62, 40, 26], [112, 74, 44],
                         [215, 180, 115], [150, 62, 30], [172, 170, 166]])
IRIS_COLOURS = np.array([[70, 45, 25], [60, 110, 160], [70, 110, 60], [120, 90, 45]])
EYE_WHITE = np.float32([235, 232, 225]).reshape(3, 1, 1)


def synthetic_faces(seeds):
    """Draws the built-in synthetic faces for `seeds`; returns (keys, load) for training_dataset.

    They are drawn up front (about 5 ms a face), not inside tf.data: a Python function in the
    pipeline can hang TensorFlow's iterator teardown at exit, whose threads wait for the GIL the
    main thread holds. keys: indices; load: index tensor -> uint8 [218, 178, 3].
    """
    faces = tf.constant(_drawn(tuple(int(seed) for seed in seeds)))
    return list(range(len(faces))), lambda index: tf.gather(faces, index)


@functools.lru_cache(maxsize=2)
def _drawn(seeds):
    """uint8 [len(seeds), 218, 178, 3]: the faces of `seeds`, drawn once per process for the
    same seeds (eval after training, or a notebook's second run, would draw them again)."""
    return np.stack([draw_synthetic_face(seed) for seed in seeds])


def draw_synthetic_face(seed: int) -> np.ndarray:
    """Draws a random cartoon face framed like an aligned CelebA image.

    Eyes land near (x, y) = (68, 112) and (110, 112), the mouth near y = 150
    and the chin near y = 180, so the 128x128 crop at x=25, y=60 holds the face.

    Args:
        seed: seed for `np.random.default_rng`; equal seeds give equal images.

    Returns:
        uint8 array [218, 178, 3], RGB.
    """
    rng = np.random.default_rng(seed)
    # Each step draws its random numbers in turn, so a seed always gives the same face.
    face = _random_pose(rng)
    image = _background(rng, face)
    skin = _random_colour(rng, SKIN_LIGHT + rng.uniform() ** 1.6 * (SKIN_DARK - SKIN_LIGHT), 10)
    hair = _random_colour(rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 15)
    # Strands fanning out from the crown give the hair fine detail to super-resolve.
    hair_texture = hair * (0.93 + 0.07 * np.sin(90 * face.u / np.maximum(face.v + 130, 1)))
    _paint_hair(image, rng, face, hair_texture)
    _paint_body(image, rng, face, skin)
    _paint_head(image, rng, face, skin, hair_texture)
    _paint_eyes(image, rng, face, skin, hair)
    _paint_nose(image, rng, face, skin)
    _paint_mouth(image, rng, face, skin)
    _light_and_noise(image, rng, face)
    # Stacking uint8 planes is the cheapest way back to a contiguous [H, W, 3].
    return np.dstack(np.clip(image, 0, 255).astype(np.uint8))


class _Face:
    """Where the face sits: its pose, and every pixel's offset from its centre in image (dx, dy)
    and face-local (u, v) coordinates, float32 [218, 178] each."""

    def __init__(self, pose):
        self.pose = pose  # (cos, sin, scale, x, y): face-local to image coordinates.
        cos, sin, scale, x, y = pose
        self.dx, self.dy = _GRID_X - np.float32(x), _GRID_Y - np.float32(y)
        self.u = np.float32(cos / scale) * self.dx + np.float32(sin / scale) * self.dy
        self.v = np.float32(-sin / scale) * self.dx + np.float32(cos / scale) * self.dy

    def window(self, centre, radius):
        """(rows, cols, u, v): the image window, clipped to the image, that covers a disc of the
        face-local plane, and its face-local coordinates.

        Shading only the pixels near a feature keeps small features cheap.
        centre: (u, v) of the disc; radius: in face-local pixels.
        """
        cos, sin, scale, x, y = self.pose
        image_x = x + scale * (cos * centre[0] - sin * centre[1])
        image_y = y + scale * (sin * centre[0] + cos * centre[1])
        reach = scale * radius + 2  # +2 px keeps the soft edge inside the window.
        rows = slice(max(int(image_y - reach), 0), max(int(image_y + reach) + 1, 0))
        cols = slice(max(int(image_x - reach), 0), max(int(image_x + reach) + 1, 0))
        return rows, cols, self.u[rows, cols], self.v[rows, cols]


def _random_pose(rng):
    """A small roll, shift and scale, applied by mapping every pixel into face space."""
    angle, scale = np.deg2rad(rng.uniform(-6, 6)), rng.uniform(0.92, 1.08)
    return _Face((np.cos(angle), np.sin(angle), scale,
                  FACE_CENTRE_X + rng.uniform(-4, 4), FACE_CENTRE_Y + rng.uniform(-4, 4)))


def _background(rng, face):
    """A muted linear gradient between two colours in a random direction: float32 [3, h, w]."""
    direction = rng.uniform(0, 2 * np.pi)
    ramp = np.clip(np.float32(np.cos(direction) / 220) * face.dx
                   + np.float32(np.sin(direction) / 220) * face.dy + 0.5, 0, 1)
    start, end = (_random_colour(rng, np.full(3, rng.uniform(40, 215)), 70) for _ in range(2))
    return start + ramp * (end - start)


def _paint_hair(image, rng, face, hair_texture):
    hair_length = rng.uniform(-10, 70)
    _paint(image, _ellipse_mask(face.u, face.v, (0, hair_length / 2 - 12),
                                (rng.uniform(49, 62), 66 + hair_length / 2)), hair_texture)


def _paint_body(image, rng, face, skin):
    """Shoulders in a random colour, and the neck."""
    rows, cols, u, v = face.window((0, 100), 100)
    body = image[:, rows, cols]
    _paint(body, _ellipse_mask(u, v, (0, 128), (rng.uniform(70, 95), 50)),
           rng.uniform(0, 255, (3, 1, 1)).astype(np.float32))
    _paint(body, _ellipse_mask(u, v, (0, 58), (25, 40)), skin * 0.8)


def _paint_head(image, rng, face, skin, hair_texture):
    """Ears, then an egg-shaped head under a fringe of hair."""
    for ear_centre in ((-47, -6), (47, -6)):
        rows, cols, u, v = face.window(ear_centre, 13)
        _paint(image[:, rows, cols], _ellipse_mask(u, v, ear_centre, (7, 13)), skin * 0.9)
    rows, cols, u, v = face.window((0, -4), 64)
    head = image[:, rows, cols]
    # Widen u towards the chin so the jaw narrows; darken the rim for volume.
    face_du, face_dv = u * (1 + 0.25 * np.clip(v / 58, 0, 1)) / 48, v / 58
    face_distance = np.sqrt(face_du * face_du + face_dv * face_dv)
    face_shade = skin * (1 - 0.3 * np.minimum(face_distance, 1) ** 4)
    _paint(head, np.clip((1 - face_distance) * 32 + 0.5, 0, 1), face_shade)
    # Fringe: the hair cap covers the face above a hairline that dips towards the temples.
    hairline = (rng.uniform(-42, -26) + rng.uniform(8, 30) * (u / 48) ** 2
                + rng.uniform(-8, 8) * u / 48)
    fringe = _ellipse_mask(u, v, (0, -6), (51, 63)) * np.clip(hairline - v + 0.5, 0, 1)
    _paint(head, fringe, hair_texture[:, rows, cols])


def _paint_eyes(image, rng, face, skin, hair):
    """Two eyes looking the same way (socket, white, iris, pupil, glint) under arched brows."""
    iris = _random_colour(rng, IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))], 15)
    gaze_u, gaze_v = rng.uniform(-2, 2), rng.uniform(-0.8, 0.8)
    brow_height, brow_arch = rng.uniform(-24, -19), rng.uniform(0.01, 0.04)
    for eye_centre in (-21, 21):
        rows, cols, u, v = face.window((eye_centre, -14), 16)
        eye = image[:, rows, cols]
        _paint(eye, _ellipse_mask(u, v, (eye_centre, -10), (10, 5.5)), skin * 0.45)
        white = _ellipse_mask(u, v, (eye_centre, -10), (9, 4.5), softness=1)
        _paint(eye, white, EYE_WHITE)
        iris_centre = (eye_centre + gaze_u, -10 + gaze_v)
        _paint(eye, white * _ellipse_mask(u, v, iris_centre, (4.5, 4.5)), iris)
        _paint(eye, white * _ellipse_mask(u, v, iris_centre, (1.8, 1.8), 0.8), np.float32(10))
        glint = (iris_centre[0] + 1.2, iris_centre[1] - 1.2)
        _paint(eye, _ellipse_mask(u, v, glint, (0.8, 0.8), 0.6), np.float32(255))
        # Arched brow: drop the ends by bending v with a parabola before testing a thin ellipse.
        brow_v = v - brow_arch * (u - eye_centre) ** 2
        _paint(eye, _ellipse_mask(u, brow_v, (eye_centre, brow_height), (12, 2.2)), hair * 0.8,
               0.9)


def _paint_nose(image, rng, face, skin):
    """A shadow along the bridge, a darker tip and two nostrils."""
    rows, cols, u, v = face.window((0, 6), 15)
    nose = image[:, rows, cols]
    _paint(nose, _ellipse_mask(u, v, (rng.choice([-4, 4]), 5), (2.5, 12), 3), skin * 0.7, 0.5)
    _paint(nose, _ellipse_mask(u, v, (0, 14), (7, 5), 3), skin * 0.8, 0.4)
    for side in (-1, 1):
        _paint(nose, _ellipse_mask(u, v, (side * 3.5, 16), (2, 1.2), 1), skin * 0.35, 0.8)


def _paint_mouth(image, rng, face, skin):
    """Lips and the line between them; bending v by a parabola lifts (smile) or drops (frown)
    the corners."""
    rows, cols, u, v = face.window((0, 30), 18)
    mouth = image[:, rows, cols]
    v = v + rng.uniform(-0.01, 0.03) * u ** 2
    width = rng.uniform(11, 16)
    lip = _random_colour(rng, 0.6 * skin + 0.4 * np.array([200, 60, 70]).reshape(3, 1, 1), 12)
    _paint(mouth, _ellipse_mask(u, v, (0, 30), (width, rng.uniform(3, 5.5))), lip)
    _paint(mouth, _ellipse_mask(u, v, (0, 30), (width - 1, 0.9), 0.8), lip * 0.4)


def _light_and_noise(image, rng, face):
    """Directional lighting across the whole picture, then fine uniform noise (std ~3)."""
    light, strength = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.25) / 70
    image *= (1 + np.float32(strength * np.cos(light)) * face.u
              + np.float32(strength * np.sin(light)) * face.v)
    image += (rng.random((FRAME_HEIGHT, FRAME_WIDTH), dtype=np.float32) - 0.5) * 10


def _ellipse_mask(u, v, centre, radii, softness=1.5):
    """Soft-edged ellipse coverage.

    Args:
        u, v: float32 arrays [h, w], face-local pixel coordinates.
        centre: (u, v) of the ellipse centre.
        radii: (ru, rv) semi-axes in pixels.
        softness: width in pixels of the anti-aliased edge ramp.

    Returns:
        float32 array [h, w] in [0, 1]; 1 inside, 0 outside.
    """
    du, dv = (u - centre[0]) / radii[0], (v - centre[1]) / radii[1]
    distance = np.sqrt(du * du + dv * dv)  # np.hypot is ~5x slower.
    # (1 - distance) * min radius approximates the signed pixel distance to the edge.
    return np.clip((1 - distance) * (min(radii) / softness) + 0.5, 0, 1)


def _paint(image, mask, colour, opacity=1.0):
    """Alpha-blends `colour` into `image` in place.

    Args:
        image: float32 array [3, h, w], channel-first (broadcasting over a
            trailing axis of 3 is ~10x slower in numpy), values in [0, 255].
        mask: float32 array [h, w] in [0, 1], coverage of the shape.
        colour: float32 array [3, 1, 1] or [3, h, w], values in [0, 255].
        opacity: scalar in [0, 1] scaling the mask.
    """
    image += (mask * np.float32(opacity)) * (colour - image)


def _random_colour(rng, colour, amount):
    """`colour` (RGB, 3 values) plus uniform noise of +-`amount`: float32 [3, 1, 1] in [0, 255]."""
    colour = np.clip(np.reshape(colour, 3) + rng.uniform(-amount, amount, 3), 0, 255)
    return colour.astype(np.float32).reshape(3, 1, 1)
