"""srez faces: find the faces of a photo, align each to the model's frame, and put them back.

srez's generator knows one frame: CelebA's aligned face, its 128x128 box at x=25, y=60 shrunk
to the model's input (16x16 at the default --sample_size). A photo's faces can be anywhere, of
any size, a little turned. As GFPGAN does with facexlib, `Detector` finds each face and its five
landmarks (mtcnn), `alignment` maps them onto where the training frame has them with a
least-squares similarity transform, `snap` puts that frame on the photo's pixel grid, `cut`
takes its pixels, and `paste` puts the generator's output back into the 4x upscale of the photo
under a feathered mask.

Coordinates are continuous pixel coordinates: pixel (i, j) covers [j, j + 1) x [i, i + 1).
"""
import dataclasses

import numpy as np
import tensorflow as tf

import srez_images

# Where the detector puts the five landmarks (left eye, right eye, nose, left and right mouth
# corners, as seen in the picture) in the model's input frame, as fractions of its side. Measured
# with the detector itself on 2,000 CelebA training faces (docs/faces.md tells how): so the
# detector and the template agree.
TEMPLATE = np.array([[0.3391, 0.3921], [0.6529, 0.3909], [0.4916, 0.5812],
                     [0.3621, 0.7270], [0.6250, 0.7283]], np.float32)
# The detector's smallest window is 12 px; it runs on the photo upscaled so that the faces srez
# is for (a face box of about 16 px, the face inside it about 10) are twice that.
DETECTION_UPSCALE = 3
# Pixels of the upscaled photo. Not more: mtcnn's pyramid then runs on to images under its 11 px
# minimum for some photo sizes, and its detect_faces reports the error as "no faces".
DETECTION_MIN_FACE = 20
# Photo pixels per detection window, and how much windows overlap: a face of up to this overlap
# lies whole in one of them.
DETECTION_WINDOW, DETECTION_OVERLAP = 640, 64
DETECTION_THRESHOLDS = dict(threshold_pnet=0.6, threshold_rnet=0.7, threshold_onet=0.8)
# The model upscales a face's frame at the photo's own pixels (see `snap`); past this many times
# its input, the face is too large for it and keeps the background upscale. docs/faces.md
# measured it: frames of 14-20 px gain, from 22 px the model falls below bicubic on some faces,
# and shrinking larger frames to the input loses more than the model gains.
MAX_FRAME_SCALE = 1.3
FEATHER = 0.15  # The mask fades out over this fraction of the frame's side at each edge.


@dataclasses.dataclass
class Face:
    """One face of a photo: box [x0, y0, x1, y1] and landmarks [5, 2] in photo pixels, the
    detector's score, its frame's side in photo pixels and turn in degrees (of the alignment),
    and why it was skipped ('' if used)."""
    box: list
    landmarks: list
    score: float
    frame_size: float = 0.0
    turn: float = 0.0
    skipped: str = ''

    @property
    def used(self):
        """Whether the model upscaled this face."""
        return not self.skipped

    def record(self):
        """A JSON-ready dict of this face."""
        return dict(box=[round(v, 2) for v in self.box],
                    landmarks=[[round(x, 2), round(y, 2)] for x, y in self.landmarks],
                    score=round(self.score, 4), frame_size=round(self.frame_size, 2),
                    turn=round(self.turn, 1),
                    used=self.used, **({'skipped': self.skipped} if self.skipped else {}))


class Detector:
    """mtcnn's face and landmark detector, tuned for the small faces srez upscales."""

    def __init__(self):
        import mtcnn  # Only photos need it (it loads its three networks).
        self._mtcnn = mtcnn.MTCNN()

    def detect(self, image):
        """The faces of uint8 [h, w, 3] `image`, as Faces in its pixels, best score first.

        The photo is searched in overlapping windows, each upscaled DETECTION_UPSCALE times, so
        memory stays bounded whatever its size; a face that two windows see is kept once.
        """
        rows = []
        for top, bottom, _, _ in _spans(image.shape[0]):
            for left, right, _, _ in _spans(image.shape[1]):
                rows += self._detect_window(image[top:bottom, left:right], top, left)
        return [Face(box=box.tolist(), landmarks=landmarks.tolist(), score=float(score))
                for box, landmarks, score in _suppress_overlaps(rows)]

    def _detect_window(self, window, top, left):
        """The (box, landmarks, score) rows of the faces in `window`, whose corner is (top,
        left) of the photo, in photo pixels."""
        size = [round(DETECTION_UPSCALE * side) for side in window.shape[:2]]
        upscaled = tf.clip_by_value(tf.image.resize(tf.cast(window, tf.float32), size,
                                                    'bicubic'), 0, 255).numpy()
        found = self._mtcnn.detect_faces(upscaled, box_format='xyxy', output_type='numpy',
                                         min_face_size=DETECTION_MIN_FACE, **DETECTION_THRESHOLDS)
        rows = []
        # Each row: image, x0, y0, x1, y1, score, the landmarks' 5 x, then their 5 y, with pixel
        # centres counted from 0; ours count pixel edges, hence the + 0.5.
        for row in np.asarray(found, np.float64).reshape(-1, 16):
            points = (row[[1, 2, 3, 4, *range(6, 16)]] + 0.5) / DETECTION_UPSCALE
            points += [left, top, left, top] + [left] * 5 + [top] * 5
            rows.append((points[:4], np.stack([points[4:9], points[9:14]], 1), row[5]))
        return rows


def _spans(length):
    """The detection windows along one axis of `length` photo pixels: (start, stop, _, _),
    neighbours overlapping by DETECTION_OVERLAP, so a face of up to that size lies whole in one."""
    return srez_images.spans(length, DETECTION_WINDOW - DETECTION_OVERLAP, DETECTION_OVERLAP // 2)


def _suppress_overlaps(rows, overlap=0.5):
    """The (box, landmarks, score) rows left, best score first, after dropping every row that
    overlaps a better one by more than `overlap` of the smaller box (a face two windows saw)."""
    kept = []
    for row in sorted(rows, key=lambda row: -row[2]):
        if all(_overlap(row[0], other[0]) <= overlap for other in kept):
            kept.append(row)
    return kept


def _overlap(a, b):
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(smaller, 1e-9)


def similarity_transform(source, target):
    """The least-squares similarity (rotation, uniform scale, translation; no reflection) that
    maps points `source` [n, 2] onto `target` [n, 2] (Umeyama's method).

    Returns float64 [2, 3]: target = matrix[:, :2] @ source + matrix[:, 2].
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    source_mean, target_mean = source.mean(0), target.mean(0)
    centred_source, centred_target = source - source_mean, target - target_mean
    covariance = centred_target.T @ centred_source / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / centred_source.var(0).sum()
    matrix = scale * rotation
    return np.concatenate([matrix, (target_mean - matrix @ source_mean)[:, None]], axis=1)


def alignment(face, size):
    """The similarity [2, 3] from the photo's pixels to the model's input frame (`size` square)
    that puts `face`'s landmarks where the template has them."""
    return similarity_transform(face.landmarks, TEMPLATE * size)


@dataclasses.dataclass(frozen=True)
class Frame:
    """A face's frame on the photo's pixel grid: its corner (left, top) in photo pixels; its
    side is the model's input size."""
    left: int
    top: int


def snap(matrix, size):
    """The Frame on the photo's pixel grid nearest to alignment `matrix`'s: the same centre to
    the pixel, the model's input size, no turn.

    Resampling the photo to follow the alignment exactly blurs the model's input more than the
    model forgives; at the photo's own pixels, a face of 14-20 px turned by up to 15 degrees is
    upscaled far better than when resampled (docs/faces.md measures both).
    """
    linear = np.linalg.inv(matrix[:, :2])
    centre = linear @ (np.array([size / 2, size / 2]) - matrix[:, 2])
    corner = np.round(centre - size / 2).astype(int)
    return Frame(int(corner[0]), int(corner[1]))


def frame_size(matrix, size):
    """The side, in photo pixels, of the frame (`size` square) that alignment `matrix` cuts."""
    return size / np.sqrt(abs(np.linalg.det(matrix[:, :2])))


def turn(matrix):
    """The degrees by which alignment `matrix` turns the photo to stand the face upright."""
    return float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))


def cut(image, frame, size):
    """The frame's pixels of `image` [h, w, c]: float32 [size, size, c], edge pixels repeating
    beyond the photo."""
    rows = np.clip(np.arange(frame.top, frame.top + size), 0, image.shape[0] - 1)
    columns = np.clip(np.arange(frame.left, frame.left + size), 0, image.shape[1] - 1)
    return image[rows[:, None], columns[None, :]].astype(np.float32)


def upscale_photo(image, detector, upscale_frames, size, background):
    """The photo upscaled: its faces by the model, the rest as `background`.

    image: uint8 [h, w, 3]; detector: a Detector; upscale_frames: the model, float32
    [n, size, size, 3] in [0, 1] -> float32 [n, 4 size, 4 size, 3]; background: uint8
    [4h, 4w, 3], the photo's upscale without faces, changed in place.
    Returns (uint8 [4h, 4w, 3], [Face]): a face whose frame is more than MAX_FRAME_SCALE times
    the model's input keeps the background (its `skipped` says so).
    """
    faces = detector.detect(image)
    return upscale_faces(image, faces, upscale_frames, size, background), faces


def upscale_faces(image, faces, upscale_frames, size, background):
    """upscale_photo's work once `faces` (Faces of `image`) are found; marks the skipped ones."""
    frames = []
    for face in faces:
        matrix = alignment(face, size)
        face.frame_size, face.turn = float(frame_size(matrix, size)), turn(matrix)
        if face.frame_size > MAX_FRAME_SCALE * size:
            face.skipped = (f'too large for the model: its frame is {face.frame_size:.0f} px, the '
                            f'model takes {size}')
            continue
        frames.append(snap(matrix, size))
    crops = np.stack([cut(image, frame, size) / 255 for frame in frames]) if frames else []
    outputs = upscale_frames(crops) if frames else []
    return paste(background, outputs, frames)


def feathered_mask(size):
    """float32 [size, size]: 1 inside, fading linearly to 0 over FEATHER of the side at each
    edge, so a pasted face leaves no seam."""
    steps = (np.arange(size) + 0.5) / size
    ramp = np.clip(np.minimum(steps, 1 - steps) / FEATHER, 0, 1)
    return np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)


def centrality(size):
    """float32 [size, size]: 1 at the centre, falling to 0 at the edges (max-norm)."""
    steps = (np.arange(size) + 0.5) / size
    distance = np.abs(steps - 0.5)
    return np.clip(1 - 2 * np.maximum(distance[:, None], distance[None, :]), 0, 1)


def paste(background, outputs, frames, scale=srez_images.SCALE):
    """Puts the generator's `outputs` back into `background`, the upscale of the photo.

    background: uint8 [H, W, 3], `scale` times the photo, changed in place; outputs: float32
    [n, S, S, 3] in [0, 1], the upscales of the Frames `frames`. Each lands on the pixels of its
    frame under a feathered mask. Where masks overlap, each pixel follows mostly the face whose
    centre it lies nearest (weights falling to 0 at a frame's edge), so one face does not undo
    another. Pixels that no mask reaches keep the background's values exactly. Faces are
    blended in groups of overlapping ones, so memory follows the faces' size, not the photo's.
    """
    if not len(outputs):
        return background
    side = outputs.shape[1]
    mask, centre = feathered_mask(side), centrality(side)
    regions = [(scale * frame.top, scale * frame.left, side) for frame in frames]
    for group in _overlapping_groups(regions, background.shape[:2]):
        top, left = (min(regions[i][k] for i in group) for k in (0, 1))
        bottom, right = (max(regions[i][k] + regions[i][2] for i in group) for k in (0, 1))
        top, left = max(top, 0), max(left, 0)
        bottom, right = min(bottom, background.shape[0]), min(right, background.shape[1])
        weights = np.full((bottom - top, right - left), 1e-12, np.float32)
        coverage = np.zeros((bottom - top, right - left), np.float32)
        blended = np.zeros((bottom - top, right - left, 3), np.float32)
        for index in group:
            face = outputs[index]
            # The part of the face inside the photo, and where it lands in the group's window.
            face_top, face_left = regions[index][0], regions[index][1]
            rows = slice(max(top - face_top, 0), min(bottom - face_top, side))
            columns = slice(max(left - face_left, 0), min(right - face_left, side))
            window = (slice(face_top + rows.start - top, face_top + rows.stop - top),
                      slice(face_left + columns.start - left, face_left + columns.stop - left))
            weight = mask[rows, columns] * centre[rows, columns] ** 4
            blended[window] += weight[..., None] * face[rows, columns]
            weights[window] += weight
            coverage[window] = np.maximum(coverage[window], mask[rows, columns])
        touched = coverage > 0
        region = background[top:bottom, left:right]
        old = region[touched].astype(np.float32) / 255
        faces = blended[touched] / weights[touched][:, None]
        region[touched] = np.round(255 * np.clip(old + coverage[touched][:, None] * (faces - old),
                                                 0, 1))
    return background


def _overlapping_groups(regions, shape):
    """The indices of `regions` (top, left, side) inside an image of `shape`, in groups whose
    regions overlap, directly or through others."""
    def inside(region):
        return (region[0] < shape[0] and region[1] < shape[1] and region[0] + region[2] > 0
                and region[1] + region[2] > 0)

    def intersect(a, b):
        return (a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[2]
                and b[1] < a[1] + a[2])

    groups = []
    for index, region in enumerate(regions):
        if not inside(region):
            continue
        joined = [group for group in groups
                  if any(intersect(region, regions[other]) for other in group)]
        merged = [index] + [other for group in joined for other in group]
        groups = [group for group in groups if group not in joined] + [sorted(merged)]
    return groups
