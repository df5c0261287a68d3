"""The figures of docs/faces.md: faces found and upscaled in composite photos of faces no model
trained on, their gain over bicubic, and the faces taken where a photo has none.

    pip install scikit-image
    python tools/photo_figures.py                        # 12 photos of 10 faces, 14-20 px
    python tools/photo_figures.py --grey --jpeg 80       # the same photos, black and white, JPEG
    python tools/photo_figures.py --frames 22,44 --faces_per_photo 6
    python tools/photo_figures.py --face_free            # detections used on face-free photos

Composite photos come from tests/photos.py: CelebA validation faces (files numbered 162771 and
above in ../shared/celeba) pasted, small and turned, into scikit-image's public-domain pictures.
"Face regions" is the PSNR over each face's frame in the truth, against the bicubic upscale of the
same photo; "whole" over the whole photo.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), 'tests')]

import photos  # noqa: E402

import srez_config  # noqa: E402
import srez_pixels  # noqa: E402
import srez_upscaler  # noqa: E402

FACE_FREE = ('coffee', 'chelsea', 'rocket', 'coins', 'horse', 'clock', 'retina', 'moon', 'page',
             'hubble_deep_field', 'immunohistochemistry', 'brick', 'grass', 'gravel', 'cell',
             'text', 'checkerboard', 'colorwheel', 'binary_blobs', 'logo', 'microaneurysms',
             'shepp_logan_phantom')


def damaged(image, grey, jpeg):
    """`image` as the user's photo would be: black and white, and saved as a JPEG."""
    if grey:
        image = np.asarray(Image.fromarray(image).convert('L').convert('RGB'))
    if jpeg:
        import io
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, 'JPEG', quality=jpeg)
        image = np.asarray(Image.open(buffer).convert('RGB'))
    return image


def psnr(a, b):
    error = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(error, 1e-10))


def face_regions(truth, image, placed):
    """The pixels of each placed face's frame (in the 4x image), stacked."""
    regions = []
    for place in placed:
        half = 2 * place.side
        x, y = 4 * place.centre[0], 4 * place.centre[1]
        regions.append((truth[int(y - half):int(y + half), int(x - half):int(x + half)],
                        image[int(y - half):int(y + half), int(x - half):int(x + half)]))
    return regions


def composites(args):
    for index in range(args.photos):
        faces = photos.validation_faces(index * args.faces_per_photo, args.faces_per_photo)
        background = photos.picture(photos.BACKGROUNDS[index % len(photos.BACKGROUNDS)])
        truth, photo, placed = photos.composite(faces, background, size=(640, 480),
                                                frame_sides=args.frames, seed=index)
        if args.grey:
            truth = np.asarray(Image.fromarray(truth).convert('L').convert('RGB'))
        yield truth, damaged(photo, args.grey, args.jpeg), placed


def measure_composites(upscaler, args):
    used = total = 0
    model_regions, bicubic_regions, whole = [], [], []
    for truth, photo, placed in composites(args):
        result = upscaler.upscale_photo(photo)
        record = {'faces': [face.record() for face in result.faces if face.used]}
        used += sum(photos.found(placed, record))
        total += len(placed)
        bicubic = srez_pixels.bicubic_upscale(photo[np.newaxis])[0]
        for (true, ours), (_, theirs) in zip(face_regions(truth, result.image, placed),
                                             face_regions(truth, bicubic, placed)):
            model_regions.append(psnr(ours, true))
            bicubic_regions.append(psnr(theirs, true))
        whole.append(psnr(result.image, truth) - psnr(bicubic, truth))
        rejected = [face.rejected or face.skipped for face in result.faces
                    if not face.used and (face.rejected or face.skipped)]
        if args.verbose and rejected:
            print('  not used:', '; '.join(rejected))
    gain = np.mean(model_regions) - np.mean(bicubic_regions)
    print(f'{used} of {total} faces upscaled by a model ({used / total:.1%}); face regions '
          f'{gain:+.2f} dB over bicubic; whole photo {np.mean(whole):+.2f} dB (worst '
          f'{min(whole):+.2f}).')


def measure_face_free(upscaler, args):
    pictures = []
    for name in FACE_FREE:
        image = photos.picture(name)
        quarter = np.asarray(Image.fromarray(image).resize(
            (image.shape[1] // 4, image.shape[0] // 4), Image.BOX))
        pictures += [(name, image), (f'{name}, a quarter', quarter),
                     (f'{name}, turned', np.ascontiguousarray(np.rot90(image)[::2, ::2]))]
    checks, used = [], 0
    for name, picture in pictures:
        result = upscaler.upscale_photo(damaged(picture, args.grey, args.jpeg))
        checks += [face.check for face in result.faces]
        used += sum(face.used for face in result.faces)
        if args.verbose and any(face.used for face in result.faces):
            print(f'  {name}: {sum(face.used for face in result.faces)} used')
    print(f'{len(pictures)} face-free photos: {len(checks)} detections, {used} used; the face '
          f'check\'s highest scores {", ".join(f"{score:.2f}" for score in sorted(checks)[-4:])}.')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--photos', type=int, default=12)
    parser.add_argument('--faces_per_photo', type=int, default=10)
    parser.add_argument('--frames', type=lambda text: tuple(map(float, text.split(','))),
                        default=(14, 20))
    parser.add_argument('--grey', action='store_true')
    parser.add_argument('--jpeg', type=int, default=0)
    parser.add_argument('--sharpness', type=float, default=0.5)
    parser.add_argument('--model', default='shipped')
    parser.add_argument('--face_check_threshold', type=float, default=0.5)
    parser.add_argument('--small_frame_score', type=float, default=0.8)
    parser.add_argument('--face_check', default=srez_config.FACE_CHECK,
                        help='the face check\'s LiteRT file (--run facecheck writes one)')
    parser.add_argument('--face_free', action='store_true')
    parser.add_argument('--verbose', action='store_true')
    args = parser.parse_args()
    srez_config.FACE_CHECK = args.face_check  # The pipeline loads it at the first photo.
    upscaler = srez_upscaler.Upscaler(args.model, args.sharpness, rules=srez_config.FaceRules(
        face_check_threshold=args.face_check_threshold, small_frame_score=args.small_frame_score))
    (measure_face_free if args.face_free else measure_composites)(upscaler, args)


if __name__ == '__main__':
    main()
