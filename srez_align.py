"""srez align: faces framed any other way, re-aligned into the frame srez trains on.

srez learns from CelebA's "Align&Cropped" framing: a 178x218 image whose 128x128 box at x=25, y=60
holds the face, eyes level. Other face sets are framed otherwise (FFHQ wider, UTKFace tighter).
`align_folder` finds each picture's face with srez's own detector (srez_detect, at the picture's
own scale), maps its five landmarks onto the template that photos are aligned by (srez_faces), and
cuts a 178x218 image at that framing, so a model trained on it sees faces as photos give them.

Where the frame runs off the picture, its border repeats the picture's edge, and the image gets
an alpha channel that says which pixels are the picture's (255) and which are fill (0): training
leaves the fill out of its losses (srez_input), and eval out of its figures. A picture is turned
away when it holds no face, more than one, or a frame that runs off it by more than a set share;
`align.json` in the output folder gives each picture's fate.

    python srez_main.py --run align --input ../utkface --aligned_dir aligned/utkface
"""
import dataclasses
import json
import os

import numpy as np
from PIL import Image

import srez_detect
import srez_faces
import srez_files

ALIGNED_WIDTH, ALIGNED_HEIGHT = 178, 218
BOX_X, BOX_Y, BOX_SIZE = 25, 60, 128  # The face box in that frame.
RECORD = 'align.json'
# Why a picture is turned away.
UNREADABLE, NO_FACE, SEVERAL_FACES, OFF_PICTURE = (
    'cannot be decoded', 'no face found', 'more than one face', 'the frame runs off the picture')
# A second detection counts as a second face from this detector score and this share of the
# first face's frame; smaller ones are faces in the background, which the frame leaves out.
SECOND_FACE_SCORE, SECOND_FACE_SIZE = 0.9, 0.5
# mtcnn's own thresholds: faces here are large and clear, unlike the small ones of photos.
THRESHOLDS = (0.6, 0.7, 0.8)


@dataclasses.dataclass(frozen=True)
class Aligned:
    """One picture's fate: its path relative to the input folder, the written image's path (or
    why it was turned away: `rejected`, one of UNREADABLE, NO_FACE, SEVERAL_FACES and
    OFF_PICTURE), the share of the face box outside the picture, the frame's side in the
    picture's pixels, and how many faces the detector took for faces."""
    name: str
    written: str = ''
    rejected: str = ''
    outside: float = 0.0
    frame_size: float = 0.0
    faces: int = 0

    def record(self):
        return {key: round(value, 4) if isinstance(value, float) else value
                for key, value in dataclasses.asdict(self).items() if value and key != 'name'}


def frame_matrix(face):
    """The similarity [2, 3] from a picture's pixels to the 178x218 aligned frame that puts
    `face`'s landmarks (a srez_faces.Face) where the template has them in its 128 px box."""
    matrix = srez_faces.alignment(face, BOX_SIZE)
    return matrix + np.array([[0, 0, BOX_X], [0, 0, BOX_Y]])


def cut_aligned(picture, matrix):
    """The 178x218 frame that `matrix` places, cut from uint8 `picture` [h, w, 3]: uint8 [218,
    178, 4], the picture's edge repeating beyond it, alpha the share of each pixel inside it."""
    # One transparent pixel around the picture: beyond it the cut repeats that pixel's zero alpha.
    opaque = np.concatenate([picture, np.full(picture.shape[:2] + (1,), 255, np.uint8)], -1)
    padded = np.pad(opaque, [(1, 1), (1, 1), (0, 0)], mode='edge')
    padded[[0, -1], :, 3] = padded[:, [0, -1], 3] = 0
    # A square frame around the tall one, so srez_faces.cut (square frames) cuts it.
    margin = (ALIGNED_HEIGHT - ALIGNED_WIDTH) // 2
    square = matrix + np.array([[0, 0, margin], [0, 0, 0]])
    shift = np.array([[1.0, 0, 1], [0, 1, 1], [0, 0, 1]])  # Picture pixels -> padded pixels.
    square = square @ np.linalg.inv(shift)
    cut = srez_faces.cut(padded, square, ALIGNED_HEIGHT)[:, margin:margin + ALIGNED_WIDTH]
    return np.uint8(np.clip(np.round(cut), 0, 255))


def align(detector, picture, max_outside):
    """(uint8 [218, 178, 4] or None, Aligned without its paths) for uint8 `picture` [h, w, 3]."""
    rows = detector.detect(picture.astype(np.float32), thresholds=THRESHOLDS)
    if not len(rows):
        return None, Aligned('', rejected=NO_FACE)
    faces = [srez_faces.Face(box=list(row[:4]), landmarks=np.stack([row[5:10], row[10:15]], 1)
                             + 0.5, score=float(row[4])) for row in rows]
    sizes = [srez_faces.frame_size(frame_matrix(face), BOX_SIZE) for face in faces]
    first = int(np.argmax([face.score for face in faces]))
    count = 1 + int(sum(face.score >= SECOND_FACE_SCORE and size >= SECOND_FACE_SIZE * sizes[first]
                        for index, (face, size) in enumerate(zip(faces, sizes)) if index != first))
    fate = Aligned('', frame_size=float(sizes[first]), faces=count)
    if count > 1:
        return None, dataclasses.replace(fate, rejected=SEVERAL_FACES)
    image = cut_aligned(picture, frame_matrix(faces[first]))
    box = image[BOX_Y:BOX_Y + BOX_SIZE, BOX_X:BOX_X + BOX_SIZE, 3]
    fate = dataclasses.replace(fate, outside=float(1 - box.mean() / 255))
    if fate.outside > max_outside:
        return None, dataclasses.replace(fate, rejected=OFF_PICTURE)
    return image, fate


def run_align(config):
    """--run align: the faces of config.images.input re-aligned into config.aligned_dir (a
    srez_config.AlignConfig)."""
    images = config.images
    paths = srez_files.find_images(images.input)[:images.max_images or None]
    print(f'Aligning {len(paths)} pictures of {images.input} into {config.aligned_dir}/.')
    results = align_folder(paths, images.input, config.aligned_dir, config.align_max_outside)
    print(summary(results, config.align_max_outside) + f' Each picture\'s fate is in '
          f'{config.aligned_dir}/{RECORD}.')


def align_folder(paths, root, output_dir, max_outside, log=print):
    """Re-aligns the pictures `paths` (under `root`) into PNGs under `output_dir`, with the same
    relative paths and stems, RGBA where the frame runs off the picture and RGB elsewhere; writes
    RECORD there. Returns [Aligned]."""
    detector = srez_detect.Mtcnn()
    results = []
    for index, path in enumerate(paths):
        name = os.path.relpath(path, root)
        try:
            with Image.open(path) as opened:
                picture = np.asarray(opened.convert('RGB'))
        except (OSError, ValueError):  # Pillow's ways of refusing a file.
            results.append(Aligned(name, rejected=UNREADABLE))
            continue
        image, fate = align(detector, picture, max_outside)
        fate = dataclasses.replace(fate, name=name)
        if image is not None:
            target = os.path.join(output_dir, os.path.splitext(name)[0] + '.png')
            os.makedirs(os.path.dirname(target), exist_ok=True)
            pixels = image if image[..., 3].min() < 255 else image[..., :3]
            srez_files.write_atomically(target, lambda partial, pixels=pixels: Image.fromarray(
                pixels).save(partial))
            fate = dataclasses.replace(fate, written=target)
        results.append(fate)
        if log and (index + 1) % 500 == 0:
            log(f'{index + 1}/{len(paths)} pictures.')
    srez_files.write_atomically(os.path.join(output_dir, RECORD), json.dumps(
        {result.name: result.record() for result in results}, indent=1))
    return results


def summary(results, max_outside):
    """'9,100 of 9,280 pictures aligned (...); turned away: 120 no face found, ...'."""
    written = [result for result in results if result.written]
    outside = np.mean([result.outside for result in written]) if written else 0.0
    line = (f'{len(written):,} of {len(results):,} pictures aligned (their frames {outside:.0%} '
            f'off the picture on average)')
    reasons = [result.rejected for result in results if result.rejected]
    if reasons:
        line += '; turned away: ' + ', '.join(
            f'{reasons.count(reason):,} {reason}' + (f' by over {max_outside:.0%}'
                                                     if reason == OFF_PICTURE else '')
            for reason in (UNREADABLE, NO_FACE, SEVERAL_FACES, OFF_PICTURE) if reason in reasons)
    return line + '.'
