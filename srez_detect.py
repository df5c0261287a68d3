"""srez detect: the mtcnn face detector (Zhang et al. 2016, as the MIT-licensed `mtcnn` package
has it), in numpy around its three networks run by LiteRT, so photos need no TensorFlow.

Three networks look at an image in turn: PNet slides over a pyramid of scales and proposes boxes;
RNet sees each proposal at 24x24 and refines it; ONet sees the survivors at 48x48 and gives the
final box, score and five landmarks. Between them, boxes that overlap a better one are dropped.
Each step does what the `mtcnn` package (1.0) does, to the same arithmetic, so that both find the
same faces; its networks' weights are its own, converted by tools/convert_mtcnn.py.

Boxes are [x0, y0, x1, y1] in pixels whose centres are whole numbers (mtcnn's convention).
"""
import os

import numpy as np

import srez_lite
import srez_pixels

NETWORK_FILES = {name: os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models',
                                    f'mtcnn_{name}.tflite') for name in ('pnet', 'rnet', 'onet')}
SMALLEST_WINDOW = 12  # PNet's input.
PYRAMID_STEP = 0.709
# Boxes overlapping a better one by more than this are dropped: within one scale, across scales,
# after RNet, and after ONet (there as a share of the smaller box).
OVERLAP_SCALE, OVERLAP_PYRAMID, OVERLAP_RNET, OVERLAP_ONET = 0.5, 0.7, 0.7, 0.7


class Mtcnn:
    """The three networks, loaded once."""

    def __init__(self, files=None):
        files = files or NETWORK_FILES
        # PNet sees each level of the pyramid: its interpreters are kept for a dozen shapes.
        self.pnet, self.rnet, self.onet = (
            srez_lite.Network(srez_lite.read_bytes(files[name]), shapes_kept)
            for name, shapes_kept in (('pnet', 16), ('rnet', 4), ('onet', 4)))

    def detect(self, image, min_face_size=20, thresholds=(0.6, 0.7, 0.8)):
        """The faces of `image` (float [h, w, 3] in 0..255): float64 [n, 15], each row x0, y0,
        x1, y1, score, the landmarks' 5 x, then their 5 y (left eye, right eye, nose, mouth
        corners)."""
        normalized = (np.asarray(image, np.float32) - 127.5) / 128
        boxes = self._proposals(normalized, min_face_size, thresholds[0])
        if len(boxes):
            boxes = self._refined(normalized, boxes, thresholds[1])
        if len(boxes):
            boxes = self._final(normalized, boxes, thresholds[2])
        if not len(boxes):
            return np.empty((0, 15))
        height, width = image.shape[:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width - 1)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height - 1)
        return boxes

    def _proposals(self, normalized, min_face_size, threshold):
        """PNet over the pyramid: [n, 5] boxes and scores, squared."""
        height, width = normalized.shape[:2]
        scales = pyramid(width, height, min_face_size)
        found = []
        for scale, scaled in zip(scales, srez_pixels.area_resizes(normalized, [
                (int(height * scale), int(width * scale)) for scale in scales])):
            offsets, scores = self.pnet(images=scaled[np.newaxis])
            boxes = _proposed_boxes(offsets[0], scores[0, ..., 1], threshold)
            boxes[:, :4] /= scale
            found.append(boxes[suppress(boxes, OVERLAP_SCALE)])
        boxes = _by_score(np.concatenate(found)) if found else np.empty((0, 5))
        return square(boxes[suppress(boxes, OVERLAP_PYRAMID)])

    def _refined(self, normalized, boxes, threshold):
        """RNet on each proposal: the boxes that pass, moved, squared."""
        offsets, scores = self.rnet(images=crops(normalized, boxes, 24))
        boxes = _moved(np.concatenate([boxes[:, :4], scores[:, 1:]], 1), offsets)
        boxes = _by_score(boxes[boxes[:, 4] > threshold])
        return square(boxes[suppress(boxes, OVERLAP_RNET)])

    def _final(self, normalized, boxes, threshold):
        """ONet on each box: the faces that pass, with their landmarks."""
        offsets, landmarks, scores = self.onet(images=crops(normalized, boxes, 48))
        sides = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], 1)
        landmarks = np.concatenate([sides[:, :1] * landmarks[:, :5] + boxes[:, :1] - 1,
                                    sides[:, 1:] * landmarks[:, 5:] + boxes[:, 1:2] - 1], 1)
        boxes = _moved(np.concatenate([boxes[:, :4], scores[:, 1:]], 1), offsets)
        boxes = np.concatenate([boxes, landmarks], 1)
        boxes = _by_score(boxes[boxes[:, 4] > threshold])
        return boxes[suppress(boxes, OVERLAP_ONET, smaller=True)]


def pyramid(width, height, min_face_size):
    """The scales PNet sees the image at: the smallest face becomes its 12 px window, then every
    step 0.709 as large, as many steps as the mtcnn package takes, and never below PNet's
    12 px (which the package's count allows once the smallest face is over 20 px)."""
    first = SMALLEST_WINDOW / min_face_size
    count = round(-((np.log(min(width, height) / SMALLEST_WINDOW) / np.log(PYRAMID_STEP)) + 1))
    scales = first * PYRAMID_STEP ** np.arange(max(count, 0))
    return scales[scales * min(width, height) >= SMALLEST_WINDOW]


def _proposed_boxes(offsets, scores, threshold, stride=2, window=SMALLEST_WINDOW):
    """PNet's boxes where its score passes `threshold`: [n, 5], best first, at PNet's scale."""
    rows, columns = np.where(scores > threshold)
    left, top = columns * stride + 1, rows * stride + 1
    right, bottom = columns * stride + window, rows * stride + window
    moves = offsets[rows, columns]
    side = window - 1
    boxes = np.stack([left + moves[:, 0] * side, top + moves[:, 1] * side,
                      right + moves[:, 2] * side, bottom + moves[:, 3] * side,
                      scores[rows, columns]], 1).astype(np.float64)
    return _by_score(boxes)


def _by_score(boxes):
    """`boxes` [n, 5+], best score (column 4) first."""
    return boxes[np.argsort(boxes[:, 4])[::-1]]


def suppress(boxes, overlap, smaller=False):
    """The indices of `boxes` (in order of merit) that no earlier box overlaps by more than
    `overlap`: of their union, or (smaller) of the smaller box."""
    if not len(boxes):
        return np.zeros(0, int)
    corners = boxes[:, :4]
    areas = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
    width = np.maximum(0, np.minimum(corners[None, :, 2], corners[:, None, 2])
                       - np.maximum(corners[None, :, 0], corners[:, None, 0]))
    height = np.maximum(0, np.minimum(corners[None, :, 3], corners[:, None, 3])
                        - np.maximum(corners[None, :, 1], corners[:, None, 1]))
    shared = width * height
    base = (np.minimum(areas[:, None], areas[None, :]) if smaller
            else areas[:, None] + areas[None, :] - shared)
    with np.errstate(divide='ignore', invalid='ignore'):
        beaten = (shared / base > overlap) & np.triu(np.ones_like(shared, bool), 1)
    return np.where(~beaten.any(axis=0))[0]


def square(boxes):
    """`boxes` made square around their centres, on their longer side."""
    boxes = boxes.copy()
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    boxes[:, 0] += width * 0.5 - side * 0.5
    boxes[:, 1] += height * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, 0:2] + side[:, None]
    return boxes


def _moved(boxes, offsets):
    """`boxes` moved by a network's `offsets` [n, 4], in shares of their sides."""
    boxes = boxes.copy()
    width, height = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] += offsets * np.stack([width, height, width, height], 1)
    return boxes


def crops(image, boxes, size):
    """Each box of `image` [h, w, c] resampled to size x size, bilinear (TensorFlow's
    crop_and_resize of the box as mtcnn scales it): float32 [n, size, size, c], 0 outside."""
    height, width = image.shape[:2]
    # mtcnn divides the box by the image's size, crop_and_resize multiplies by size - 1.
    x0, y0 = boxes[:, 0] / width * (width - 1), boxes[:, 1] / height * (height - 1)
    x1, y1 = boxes[:, 2] / width * (width - 1), boxes[:, 3] / height * (height - 1)
    steps = np.arange(size) / (size - 1)
    xs = x0[:, None] + (x1 - x0)[:, None] * steps
    ys = y0[:, None] + (y1 - y0)[:, None] * steps
    result = srez_pixels.sample(image, xs[:, None, :], ys[:, :, None])
    outside = ((xs < 0) | (xs > width - 1))[:, None, :] | ((ys < 0) | (ys > height - 1))[:, :, None]
    result[outside] = 0
    return result
