"""srez faces: find the faces of a photo, align each to the model's frame, and put them back.

srez's generator knows one frame: CelebA's aligned face, its 128x128 box at x=25, y=60 shrunk
to the model's input (16x16, or 32x32 for the larger faces' model). A photo's faces can be
anywhere, of any size, a little turned. As GFPGAN does with facexlib, `Detector` finds each face
and its five landmarks (mtcnn), `alignment` maps them onto where the training frame has them with
a least-squares similarity transform, a second look (srez_facecheck) and the rules of `examine`
decide whether it is a face and which model takes it, `snapped` puts its frame on the photo's
pixel grid (or the cut follows the alignment), `cut` takes its pixels, and `paste` puts the
model's output back into the 4x upscale of the photo under a feathered mask. srez_photo's
PhotoPipeline runs these steps on a photo.

Coordinates are continuous pixel coordinates: pixel (i, j) covers [j, j + 1) x [i, i + 1).
"""
import dataclasses
import math

import numpy as np

import srez_config
import srez_detect
import srez_pixels

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
# Lower than mtcnn's own (0.6, 0.7, 0.8), for small, dark and JPEG faces: the face check and the
# rules of `examine` turn away what else they let in.
DETECTION_THRESHOLDS = (0.5, 0.5, 0.5)  # PNet's, RNet's, ONet's.
FEATHER = 0.15  # The mask fades out over this fraction of the frame's side at each edge.
# Each detection's second look (srez_facecheck) sees its frame aligned at this size.
CHECK_SIDE = 16


@dataclasses.dataclass
class Face:
    """One detection in a photo: box [x0, y0, x1, y1] and landmarks [5, 2] in photo pixels, the
    detector's score, its frame's side in photo pixels and turn in degrees (of the alignment),
    the face check's score, the input size of the model that upscaled it (0: none), why a face
    was left to the bicubic upscale (`skipped`), and why a detection was not taken for a face
    (`rejected`)."""
    box: list
    landmarks: list
    score: float
    frame_size: float = 0.0
    turn: float = 0.0
    check: float = 0.0
    model: int = 0
    skipped: str = ''
    rejected: str = ''
    frame: np.ndarray = None  # Where a tracker cut it: [2, 3] photo pixels -> its model's frame.

    @property
    def used(self):
        """Whether a model upscaled this face."""
        return bool(self.model)

    def record(self):
        """A JSON-ready dict of this detection."""
        return dict(box=[round(v, 2) for v in self.box],
                    landmarks=[[round(x, 2), round(y, 2)] for x, y in self.landmarks],
                    score=round(self.score, 4), frame_size=round(self.frame_size, 2),
                    turn=round(self.turn, 1), check=round(self.check, 4), used=self.used,
                    **({'model': self.model} if self.model else {}),
                    **({'skipped': self.skipped} if self.skipped else {}),
                    **({'rejected': self.rejected} if self.rejected else {}))


class Detector:
    """mtcnn's face and landmark detector (srez_detect), tuned for the small faces srez
    upscales."""

    def __init__(self):
        self._mtcnn = srez_detect.Mtcnn()

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
        upscaled = 255 * srez_pixels.bicubic_upscale(srez_pixels.to_float(window[np.newaxis]),
                                                     DETECTION_UPSCALE)[0]
        found = self._mtcnn.detect(upscaled, DETECTION_MIN_FACE, DETECTION_THRESHOLDS)
        rows = []
        # Each row: x0, y0, x1, y1, score, the landmarks' 5 x, then their 5 y, with pixel centres
        # counted from 0; ours count pixel edges, hence the + 0.5.
        for row in found:
            points = (row[[0, 1, 2, 3, *range(5, 15)]] + 0.5) / DETECTION_UPSCALE
            points += [left, top, left, top] + [left] * 5 + [top] * 5
            rows.append((points[:4], np.stack([points[4:9], points[9:14]], 1), row[4]))
        return rows


def _spans(length):
    """The detection windows along one axis of `length` photo pixels: (start, stop, _, _),
    neighbours overlapping by DETECTION_OVERLAP, so a face of up to that size lies whole in one."""
    return srez_pixels.spans(length, DETECTION_WINDOW - DETECTION_OVERLAP, DETECTION_OVERLAP // 2)


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


def snapped(matrix, size):
    """The placement on the photo's pixel grid nearest to alignment `matrix`'s: the same centre
    to the pixel, `size` photo pixels, no turn. Returns the [2, 3] matrix from photo pixels to
    that frame: a shift by whole pixels.

    Resampling the photo to follow the alignment exactly blurs the model's input; the models do
    not forgive that, even one trained on such cuts (docs/faces.md measures both).
    """
    corner = np.round(frame_centre(matrix, size) - size / 2)
    return np.array([[1.0, 0.0, -corner[0]], [0.0, 1.0, -corner[1]]])


def frame_centre(matrix, size):
    """The centre, in photo pixels, of the frame (`size` square) that alignment `matrix` places."""
    return np.linalg.inv(matrix[:, :2]) @ (np.array([size / 2, size / 2]) - matrix[:, 2])


def frame_size(matrix, size):
    """The side, in photo pixels, of the frame (`size` square) that alignment `matrix` cuts."""
    return size / np.sqrt(abs(np.linalg.det(matrix[:, :2])))


def turn(matrix):
    """The degrees by which alignment `matrix` turns the photo to stand the face upright."""
    return float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))


def cut(image, matrix, size):
    """The frame that `matrix` [2, 3] (image pixels -> frame coordinates, 0..size) places,
    resampled from `image` [h, w, c] (uint8 or float): float32 [size, size, c], in the image's
    own range, edge pixels repeating beyond it.

    The frame is first cut at the image's own scale (bilinear), then shrunk to `size` by area, so
    a large face is not aliased. A frame on the pixel grid (`snapped`) is cut exactly.
    """
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))  # Frame units per image pixel.
    native = max(size, round(size / scale))
    to_image = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    # Only the part of the image around the frame is read (a photo can be large).
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]]) @ to_image.T
    low = np.clip(np.floor(corners.min(0)).astype(int) - 2, 0, [image.shape[1] - 1,
                                                                image.shape[0] - 1])
    high = np.clip(np.ceil(corners.max(0)).astype(int) + 2, low + 1, [image.shape[1],
                                                                      image.shape[0]])
    region = image[low[1]:high[1], low[0]:high[0]]
    # Output pixel (x, y) of a native x native cut has its centre at (x + 0.5) * size / native.
    step = size / native
    transform = np.concatenate([to_image[:, :2] * step, (to_image @ np.array(
        [step / 2, step / 2, 1.0]) - 0.5 - low)[:, None]], 1)
    patch = srez_pixels.warp(region, transform, native)
    return patch if native == size else srez_pixels.area_resize(patch, (size, size))


def _ramp(steps):
    """1 inside [0, 1], fading linearly to 0 over FEATHER at each end; 0 outside."""
    return np.clip(np.minimum(steps, 1 - steps) / FEATHER, 0, 1)


def paste(background, outputs, matrices, scale=srez_config.SCALE):
    """Puts the generator's `outputs` back into `background`, the upscale of the photo.

    background: uint8 [H, W, 3], `scale` times the photo, changed in place; outputs: float32
    [S, S, 3] in [0, 1] each (their sizes may differ), the upscales of the frames that
    `matrices` ([2, 3], photo pixels -> frame coordinates 0..S / scale) placed. Each output
    lands where its frame lies, resampled (bilinear; exactly, for a frame on the pixel grid),
    under a mask that fades over FEATHER of its side at each edge. Where masks overlap, each
    pixel follows mostly the face whose centre it lies nearest (weights falling to 0 at a frame's
    edge), so one face does not undo another. Pixels that no mask reaches keep the background's
    values exactly. Faces are blended in groups of overlapping ones, so memory follows the
    faces' size, not the photo's.
    """
    placements = [_placement(output, matrix, scale, background.shape[:2])
                  for output, matrix in zip(outputs, matrices)]
    regions = [placement[0] for placement in placements]
    for group in _overlapping_groups(regions):
        top, left = (min(regions[i][k] for i in group) for k in (0, 1))
        bottom, right = (max(regions[i][k] for i in group) for k in (2, 3))
        weights = np.full((bottom - top, right - left), 1e-12, np.float32)
        coverage = np.zeros((bottom - top, right - left), np.float32)
        blended = np.zeros((bottom - top, right - left, 3), np.float32)
        for index in group:
            (face_top, face_left, face_bottom, face_right), pixels, mask, centre = placements[index]
            window = (slice(face_top - top, face_bottom - top),
                      slice(face_left - left, face_right - left))
            weight = mask * centre ** 4
            blended[window] += weight[..., None] * pixels
            weights[window] += weight
            coverage[window] = np.maximum(coverage[window], mask)
        touched = coverage > 0
        region = background[top:bottom, left:right]
        old = region[touched].astype(np.float32) / 255
        faces = blended[touched] / weights[touched][:, None]
        region[touched] = np.round(255 * np.clip(old + coverage[touched][:, None] * (faces - old),
                                                 0, 1))
    return background


def _placement(output, matrix, scale, shape):
    """Where `output` (float32 [S, S, 3]) lands in an image of `shape` [H, W], `scale` times
    the photo whose pixels `matrix` maps onto its frame: ((top, left, bottom, right) inside the
    image, its pixels there [h, w, 3], its mask [h, w], its centrality [h, w])."""
    side = output.shape[0]
    # Upscaled pixels q -> output pixels v = scale * (linear @ (q / scale) + shift).
    linear, shift = matrix[:, :2], scale * matrix[:, 2]
    to_upscaled = np.linalg.inv(linear)
    corners = np.array([[0, 0], [side, 0], [0, side], [side, side]], np.float64)
    reach = (corners - shift) @ to_upscaled.T
    top, left = np.maximum(np.floor(reach.min(0)[::-1]).astype(int), 0)
    bottom, right = np.minimum(np.ceil(reach.max(0)[::-1]).astype(int), shape)
    rows, columns = np.mgrid[top:max(bottom, top), left:max(right, left)] + 0.5
    v = np.stack([columns, rows], -1) @ linear.T + shift  # Output coordinates (x, y).
    steps = v / side
    mask = np.minimum(_ramp(steps[..., 0]), _ramp(steps[..., 1])).astype(np.float32)
    distance = np.maximum(np.abs(steps[..., 0] - 0.5), np.abs(steps[..., 1] - 0.5))
    centre = np.clip(1 - 2 * distance, 0, 1).astype(np.float32)
    pixels = srez_pixels.sample(output, v[..., 0] - 0.5, v[..., 1] - 0.5)
    return (top, left, max(bottom, top), max(right, left)), pixels, mask, centre


def _overlapping_groups(regions):
    """The indices of non-empty `regions` (top, left, bottom, right), in groups whose regions
    overlap, directly or through others."""
    def intersect(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    groups = []
    for index, region in enumerate(regions):
        if region[2] <= region[0] or region[3] <= region[1]:
            continue
        joined = [group for group in groups
                  if any(intersect(region, regions[other]) for other in group)]
        merged = [index] + [other for group in joined for other in group]
        groups = [group for group in groups if group not in joined] + [sorted(merged)]
    return groups


def examine(face, check_score, sizes, rules=srez_config.FaceRules()):
    """Decides what `face` is and which model gets it; fills in its frame, turn, check score and,
    if it is not used, why. sizes: the models' input sizes, ascending; rules: a
    srez_config.FaceRules. Returns the chosen size, or None.

    A detection is rejected (not taken for a face) when the face check scores it under the
    rules' threshold, or when its frame is small and the detector's score low; a face is skipped
    (left to the background) when it is too small, turned too far, or larger than the largest
    model takes. Otherwise it goes to the smallest model whose input is at least 1 /
    next_model_from of its frame (1 / max_frame_scale for the largest).
    """
    matrix = alignment(face, sizes[0])
    face.frame_size, face.turn, face.check = float(frame_size(matrix, sizes[0])), turn(matrix), \
        check_score
    if check_score < rules.face_check_threshold:
        face.rejected = (f'the face check gives it {check_score:.2f}, under '
                         f'{rules.face_check_threshold:g}: not taken for a face')
    elif face.frame_size < rules.small_frame and face.score < rules.small_frame_score:
        face.rejected = (f'a detector score of {face.score:.3f} is too low for a frame of '
                         f'{face.frame_size:.0f} px (under {rules.small_frame:g} px it takes '
                         f'{rules.small_frame_score:g})')
    elif face.frame_size < rules.min_frame:
        face.skipped = (f'too small for the model: its frame is {face.frame_size:.0f} px, under '
                        f'{rules.min_frame:g}')
    elif abs(face.turn) > rules.max_turn:
        face.skipped = f'turned {abs(face.turn):.0f} degrees, over {rules.max_turn:g}'
    else:
        for size in sizes:
            scale = rules.max_frame_scale if size == sizes[-1] else rules.next_model_from
            if face.frame_size <= scale * size:
                return size
        face.skipped = (f'too large for the model: its frame is {face.frame_size:.0f} px, the '
                        f'model takes {sizes[-1]}')
    return None
