"""The figures of docs/video.md: the faces of clips no model trained on, upscaled as a video
(tracked) and frame by frame as photos, against bicubic: PSNR in the face boxes, and the temporal
error there (flicker).

    pip install scikit-image
    python tools/video_figures.py                       # 6 still and 6 drifting clips
    python tools/video_figures.py --sharpness 0 --clips 3

Clips come from tests/clips.py: four CelebA validation faces (files numbered 162771 and above in
../shared/celeba) with frames of 14-20 px on one of scikit-image's public-domain pictures,
256x192, 36 frames at 12 fps, still or drifting by 0.25 px a frame, camera noise of 2/255, saved
as H.264 (constant quality 23). The truth is each frame before the downscale and the noise; the
temporal error in a face box is the mean of |(out_t - out_t-1) - (truth_t - truth_t-1)| over it.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), 'tests')]

import clips  # noqa: E402
import photos  # noqa: E402

import srez_pixels  # noqa: E402
import srez_tracks  # noqa: E402
import srez_upscaler  # noqa: E402

SIZE, FRAMES, FPS, FACES = (256, 192), 36, 12, 4


def make(index, drift, folder):
    """(truth frames, decoded input frames, placed faces per frame) of clip `index`."""
    faces = photos.validation_faces(index * FACES, FACES)
    truths, placed = clips.render(faces, photos.picture(
        photos.BACKGROUNDS[index % len(photos.BACKGROUNDS)]), SIZE, FRAMES, drift, seed=index)
    path = os.path.join(folder, f'clip{index}_{drift}.mp4')
    clips.write_clip(path, truths, fps=FPS, seed=index, sound=False)
    return truths, clips.read_clip(path)[0], placed


def boxes(placed):
    """(top, bottom, left, right) in the 4x frame of each placed face's frame."""
    return [(int(4 * (p.centre[1] - p.side / 2)), int(4 * (p.centre[1] + p.side / 2)),
             int(4 * (p.centre[0] - p.side / 2)), int(4 * (p.centre[0] + p.side / 2)))
            for p in placed]


def figures(outputs, truths, placed):
    """(mean PSNR in the face boxes, mean temporal error there) of `outputs` against `truths`."""
    psnrs, temporal = [], []
    for index, (output, truth) in enumerate(zip(outputs, truths)):
        for number, (top, bottom, left, right) in enumerate(boxes(placed[index])):
            ours = output[top:bottom, left:right].astype(np.float64)
            true = truth[top:bottom, left:right].astype(np.float64)
            psnrs.append(10 * np.log10(255 ** 2 / max(np.mean((ours - true) ** 2), 1e-10)))
            if index:
                change = ours - outputs[index - 1][top:bottom, left:right]
                true_change = true - truths[index - 1][top:bottom, left:right]
                temporal.append(np.mean(np.abs(change - true_change)))
    return np.mean(psnrs), np.mean(temporal)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--clips', type=int, default=6)
    parser.add_argument('--sharpness', type=float, default=0.5)
    parser.add_argument('--drifts', default='0,0.25')
    parser.add_argument('--no_photos', action='store_true', help='skip frame-by-frame photos')
    parser.add_argument('--blend', type=float, default=srez_tracks.BLEND)
    parser.add_argument('--motion_limit', type=float, default=srez_tracks.MOTION_LIMIT)
    args = parser.parse_args()
    srez_tracks.BLEND, srez_tracks.MOTION_LIMIT = args.blend, args.motion_limit  # To measure.
    upscaler = srez_upscaler.Upscaler(sharpness=args.sharpness)
    with tempfile.TemporaryDirectory() as folder:
        for drift in map(float, args.drifts.split(',')):
            rows = []
            for index in range(args.clips):
                truths, frames, placed = make(index, drift, folder)
                bicubic = [srez_pixels.bicubic_upscale(frame[np.newaxis])[0] for frame in frames]
                video = [result.image for result in upscaler.pipeline.upscale_frames(frames)]
                photos = video if args.no_photos else [upscaler.upscale_photo(frame).image
                                                        for frame in frames]
                rows.append([*figures(bicubic, truths, placed), *figures(video, truths, placed),
                             *figures(photos, truths, placed)])
            psnr_b, flicker_b, psnr_v, flicker_v, psnr_p, flicker_p = np.mean(rows, axis=0)
            print(f'drift {drift:g} px/frame, {args.clips} clips, --sharpness {args.sharpness:g}: '
                  f'bicubic {psnr_b:.2f} dB, temporal error {flicker_b:.2f}; as a video '
                  f'{psnr_v - psnr_b:+.2f} dB, temporal error {flicker_v / flicker_b:.2f}x '
                  f'bicubic\'s; frame by frame as photos {psnr_p - psnr_b:+.2f} dB, '
                  f'{flicker_p / flicker_b:.2f}x.')


if __name__ == '__main__':
    main()
