"""srez_faces and --faces: find, align, upscale and paste back the faces of photos."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import srez_config
import srez_faces
import srez_photo
import srez_pixels


def test_similarity_transform_against_a_hand_computed_one():
    # (0, 0) -> (1, 1) and (2, 0) -> (1, 2): a quarter turn anticlockwise (y down: x -> y),
    # scale 1/2, then (1, 1) added. By hand: [[0, -0.5, 1], [0.5, 0, 1]].
    matrix = srez_faces.similarity_transform([[0, 0], [2, 0]], [[1, 1], [1, 2]])
    np.testing.assert_allclose(matrix, [[0, -0.5, 1], [0.5, 0, 1]], atol=1e-12)
    # Five noisy points: the least-squares fit, not an exact one, and never a reflection.
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 50, (5, 2))
    angle, scale, shift = np.radians(12), 0.3, np.array([4.0, -2.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ rotation.T + shift
    np.testing.assert_allclose(srez_faces.similarity_transform(source, target),
                               np.concatenate([rotation, shift[:, None]], 1), atol=1e-9)
    mirrored = srez_faces.similarity_transform(source, target * [-1, 1])
    assert np.linalg.det(mirrored[:, :2]) > 0


def test_alignment_puts_the_landmarks_on_the_template_and_the_frame_snaps_to_the_pixels():
    # A photo whose face frame is the model's, doubled and shifted by (10.3, 19.8).
    template = srez_faces.TEMPLATE * 16
    face = srez_faces.Face(box=[0, 0, 1, 1], landmarks=(2 * template + [10.3, 19.8]).tolist(),
                           score=1)
    matrix = srez_faces.alignment(face, 16)
    np.testing.assert_allclose(matrix, [[0.5, 0, -5.15], [0, 0.5, -9.9]], atol=1e-9)
    assert srez_faces.frame_size(matrix, 16) == pytest.approx(32)
    # At the photo's own pixels: the frame of the model's size around the same centre.
    frame = srez_faces.snapped(matrix, 16)
    np.testing.assert_array_equal(frame, [[1, 0, -18], [0, 1, -28]])
    photo = np.random.default_rng(1).uniform(0, 255, (80, 60, 3)).astype(np.float32)
    np.testing.assert_array_equal(srez_faces.cut(photo, frame, 16), photo[28:44, 18:34])
    beyond = srez_faces.cut(photo, shifted(-2, 70), 16)
    np.testing.assert_array_equal(beyond[:10, 2:], photo[70:, :14])
    np.testing.assert_array_equal(beyond[10:, 0], np.repeat(photo[79:80, 0], 6, axis=0))
    # Along the alignment, on a ramp (which bilinear sampling keeps exactly): the doubled frame
    # from (10.3, 19.8), shrunk by area, so pixel (i, j) is the ramp at (10.3 + 2j + 1, ...).
    rows, columns = np.mgrid[0:80, 0:60]
    ramp = np.repeat((2 * columns + 3 * rows)[..., None], 3, -1).astype(np.float32)
    i, j = np.mgrid[0:16, 0:16]
    expected = 2 * (10.3 + 2 * j + 0.5) + 3 * (19.8 + 2 * i + 0.5)
    np.testing.assert_allclose(srez_faces.cut(ramp, matrix, 16)[..., 0], expected, atol=1e-3)
    # Turned by 10 degrees, the frame keeps its centre and does not turn.
    angle = np.radians(10)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = srez_faces.Face(box=[0, 0, 1, 1], score=1, landmarks=(
        (template - 8) @ rotation.T + [30, 40]).tolist())
    matrix = srez_faces.alignment(turned, 16)
    assert srez_faces.turn(matrix) == pytest.approx(-10)
    np.testing.assert_array_equal(srez_faces.snapped(matrix, 16), shifted(22, 32))


def shifted(left, top):
    """The placement of a frame on the pixel grid with its corner at (left, top)."""
    return np.array([[1.0, 0, -left], [0, 1.0, -top]])


def faces_at(centres, side=16):
    """Frames of `side` px (photo pixels) at each (x, y) of `centres`, as snapped places them."""
    return [srez_faces.snapped(srez_faces.alignment(srez_faces.Face(
        box=[0, 0, 1, 1], score=1.0,
        landmarks=(srez_faces.TEMPLATE * side + np.asarray(centre) - side / 2).tolist()), 16), 16)
        for centre in centres]


def test_paste_with_an_identity_generator_keeps_the_background_exactly_outside_the_masks():
    photo = np.random.default_rng(2).integers(0, 256, (60, 80, 3), np.uint8)
    background = srez_pixels.bicubic_upscale(photo[np.newaxis])[0]
    frames = faces_at([(20, 20), (60, 40)])
    crops = np.stack([srez_faces.cut(photo, frame, 16) / 255 for frame in frames])
    identity = srez_pixels.bicubic_upscale(crops)  # The frames, upscaled as the rest.
    result = srez_faces.paste(background.copy(), identity, frames)
    covered = np.zeros(background.shape[:2], bool)
    covered[4 * 12:4 * 28, 4 * 12:4 * 28] = covered[4 * 32:4 * 48, 4 * 52:4 * 68] = True
    np.testing.assert_array_equal(result[~covered], background[~covered])
    # Inside, the identity gives the background back, up to the frames' own edges.
    assert np.abs(result.astype(int) - background.astype(int))[covered].mean() < 3


def test_where_faces_overlap_each_keeps_its_own_centre():
    background = np.zeros((4 * 40, 4 * 60, 3), np.uint8)
    frames = faces_at([(20, 20), (26, 20)])
    outputs = np.stack([np.full((64, 64, 3), 0.2, np.float32), np.full((64, 64, 3), 0.8,
                                                                    np.float32)])
    result = srez_faces.paste(background, outputs, frames) / 255
    # Each centre lies inside the other's frame: it stays its own face's.
    assert abs(result[4 * 20, 4 * 20, 0] - 0.2) < 0.02
    assert abs(result[4 * 20, 4 * 26, 0] - 0.8) < 0.02


def test_a_face_at_the_photos_edge_is_pasted_in_part():
    background = np.zeros((4 * 30, 4 * 30, 3), np.uint8)
    frame = shifted(-6, 20)  # Sticks out left and below.
    result = srez_faces.paste(background, np.ones((1, 64, 64, 3), np.float32), [frame])
    assert result[4 * 28, 8].min() == 255 and result[4 * 28, 4 * 12].max() == 0


@pytest.fixture(scope='module')
def composite_photo(tmp_path_factory):
    """A 320x240 photo with 4 CelebA validation faces (frames of 14-20 px, turned up to 15
    degrees) on a textured background, and where they are; skipped without ../shared/celeba."""
    from helpers import CELEBA
    from photos import composite

    if not os.path.isdir(CELEBA):
        pytest.skip('../shared/celeba (real CelebA faces) is not present on this machine')
    names = [name for name in sorted(os.listdir(CELEBA)) if int(name[:6]) >= 162771][:4]
    faces = [np.asarray(Image.open(os.path.join(CELEBA, name)).convert('RGB')) for name in names]
    rng = np.random.default_rng(4)
    background = np.asarray(Image.fromarray(rng.integers(60, 200, (30, 40, 3), np.uint8)).resize(
        (400, 300), Image.BICUBIC))
    _, photo, placed = composite(faces, background, size=(320, 240), seed=3)
    folder = tmp_path_factory.mktemp('photo')
    Image.fromarray(photo).save(folder / 'group.png')
    return folder / 'group.png', placed


def test_the_cli_finds_every_face_of_a_composite_photo(composite_photo, trained_model, tmp_path,
                                                       srez_cli, capsys):
    from photos import found

    path, placed = composite_photo
    assert srez_cli('--run', 'infer', '--input', str(path), '--output', str(tmp_path),
                    '--checkpoint_dir', str(trained_model / 'checkpoint'), '--compare') == 0
    record = json.loads((tmp_path / 'faces.json').read_text())['group.png']
    assert all(found(placed, record)), record
    assert '[1/1] group.png: 4 faces found, 4 upscaled by the model' in capsys.readouterr().out
    face = record['faces'][0]
    assert set(face) == {'box', 'landmarks', 'score', 'frame_size', 'turn', 'check', 'used',
                         'model'}
    assert len(face['landmarks']) == 5 and face['score'] > 0.9 and face['check'] > 0.5
    assert face['used'] and face['model'] == 16
    with Image.open(tmp_path / 'group.png') as upscaled:
        assert upscaled.size == (4 * 320, 4 * 240)
    with Image.open(tmp_path / 'group_compare.png') as compared:
        assert compared.size == (3 * 4 * 320, 4 * 240)


def test_a_face_too_large_for_the_model_keeps_the_background(composite_photo, generator):
    path, _ = composite_photo
    photo = np.asarray(Image.open(path))
    # Shown twice as large, every frame is 28-40 px: over MAX_FRAME_SCALE times the
    # model's 16.
    large = np.asarray(Image.fromarray(photo).resize((640, 480), Image.BICUBIC))
    background = srez_pixels.bicubic_upscale(large[np.newaxis])[0]
    pipeline = srez_photo.PhotoPipeline({16: lambda frames: generator(frames, False).numpy()},
                                        lambda photo: background.copy(),
                                        srez_config.FaceRules(face_check_threshold=0))
    result = pipeline.upscale(large)
    assert result.faces and all(face.skipped.startswith('too large for the model: its frame is ')
                                for face in result.faces)
    np.testing.assert_array_equal(result.image, background)


def test_no_face_unreadable_and_failing_photos_are_each_one_line(trained_model, tmp_path,
                                                                 srez_cli, capsys, monkeypatch):
    folder = tmp_path / 'in'
    folder.mkdir()
    flat = np.full((40, 50, 3), 128, np.uint8)
    Image.fromarray(flat).save(folder / 'a_wall.png')
    (folder / 'b_broken.jpg').write_bytes(b'not a JPEG')
    Image.fromarray(flat).save(folder / 'c_cursed.png')
    Image.fromarray(flat[:16, :16]).save(folder / 'd_aligned.png')
    real_detect = srez_faces.Detector.detect

    def detect(self, image):
        if image.shape[1] == 50 and image[0, 0, 0] == 128 and detect.calls:
            raise RuntimeError('the detector broke')
        detect.calls += 1
        return real_detect(self, image)

    detect.calls = 0
    monkeypatch.setattr(srez_faces.Detector, 'detect', detect)
    status = srez_cli('--run', 'infer', '--input', str(folder), '--output', str(tmp_path / 'out'),
                      '--checkpoint_dir', str(trained_model / 'checkpoint'))
    output = capsys.readouterr()
    assert status == 1  # Some images failed: said, and the others written.
    assert '[1/4] a_wall.png: no face found: upscaled bicubic.' in output.out
    assert f'srez: skipped {folder}/b_broken.jpg: not an image' in output.err
    assert (f'srez: skipped {folder}/c_cursed.png: face detection failed (RuntimeError: the '
            f'detector broke)') in output.err
    assert sorted(os.listdir(tmp_path / 'out')) == ['a_wall.png', 'd_aligned.png', 'faces.json']
    # No face: the bicubic upscale, exactly.
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'out' / 'a_wall.png')),
                                  srez_pixels.bicubic_upscale(flat[np.newaxis])[0])
    # The 16x16 image is an aligned face under --faces auto: upscaled whole, not searched.
    assert set(json.loads((tmp_path / 'out' / 'faces.json').read_text())) == {'a_wall.png'}


def test_faces_off_upscales_every_image_whole_and_on_searches_every_one(trained_model, tmp_path,
                                                                        srez_cli, capsys):
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / 'aligned.png')
    Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(tmp_path / 'photo.png')
    common = ['--run', 'infer', '--checkpoint_dir', str(trained_model / 'checkpoint')]
    for mode, searched in (('off', set()), ('on', {'aligned.png', 'photo.png'})):
        for name in ('aligned.png', 'photo.png'):
            assert srez_cli(*common, '--input', str(tmp_path / name), '--output',
                            str(tmp_path / mode), '--faces', mode) == 0
        record = tmp_path / mode / 'faces.json'
        assert (set(json.loads(record.read_text())) if record.exists() else set()) == searched
    capsys.readouterr()


def face_of(frame, turn=0.0, score=0.99):
    """A detection whose landmarks put its frame at `frame` photo pixels, turned `turn` degrees."""
    angle = np.radians(turn)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (srez_faces.TEMPLATE - 0.5) * frame @ rotation.T + [100, 100]
    return srez_faces.Face(box=[0, 0, 1, 1], landmarks=points.tolist(), score=score)


@pytest.mark.parametrize('frame, sizes, expected', [
    (14, (16,), 16), (22.4, (16,), 16), (22.5, (16,), None),
    (17.99, (16, 32), 16), (18.01, (16, 32), 32), (44.8, (16, 32), 32), (44.9, (16, 32), None),
])
def test_each_face_goes_to_the_model_of_its_size(frame, sizes, expected):
    face = face_of(frame)
    assert srez_faces.examine(face, 0.9, sizes) == expected
    assert face.frame_size == pytest.approx(frame)
    assert not face.rejected
    if expected is None:
        assert face.skipped == (f'too large for the model: its frame is {frame:.0f} px, the model '
                                f'takes {sizes[-1]}')


@pytest.mark.parametrize('face, check, what, reason', [
    (face_of(16), 0.49, 'rejected', 'the face check gives it 0.49, under 0.5: not taken for a '
                                    'face'),
    (face_of(19.9, score=0.79), 0.9, 'rejected', 'a detector score of 0.790 is too low for a '
                                                 'frame of 20 px (under 20 px it takes 0.8)'),
    (face_of(11.9), 0.9, 'skipped', 'too small for the model: its frame is 12 px, under 12'),
    (face_of(16, turn=31), 0.9, 'skipped', 'turned 31 degrees, over 30'),
])
def test_each_rule_says_why_a_detection_is_not_used(face, check, what, reason):
    assert srez_faces.examine(face, check, (16, 32)) is None
    assert getattr(face, what) == reason
    assert not face.used and face.record()[what] == reason


@pytest.mark.parametrize('face, check', [
    (face_of(16), 0.5), (face_of(19.9, score=0.8), 0.9), (face_of(12.1), 0.9),
    (face_of(16, turn=29), 0.9)])
def test_just_inside_every_rule_a_face_is_used(face, check):
    assert srez_faces.examine(face, check, (16, 32)) in (16, 32)
    assert not face.rejected and not face.skipped


def test_cartoon_faces_and_textures_get_no_face_through_the_cli(trained_model, tmp_path, srez_cli,
                                                                capsys):
    # The built-in cartoon faces, at the sizes srez serves, on a JPEG texture: the detector takes
    # them for faces; the face check turns them away, so the photo is its bicubic upscale.
    import srez_synthetic

    rng = np.random.default_rng(3)
    texture = rng.normal(128, 40, (60, 80, 3)).clip(0, 255).astype(np.uint8)
    photo = np.asarray(Image.fromarray(texture).resize((320, 240), Image.BICUBIC)).copy()
    for index, side in enumerate((16, 20, 26, 34)):
        face = Image.fromarray(srez_synthetic.draw_synthetic_face(index))
        small = np.asarray(face.resize((round(side * 178 / 128), round(side * 218 / 128)),
                                       Image.BICUBIC))
        top, left = 40 + 100 * (index // 2), 40 + 150 * (index % 2)
        photo[top:top + small.shape[0], left:left + small.shape[1]] = small
    Image.fromarray(photo).save(tmp_path / 'toys.jpg', quality=85)
    assert srez_cli('--run', 'infer', '--input', str(tmp_path / 'toys.jpg'), '--output',
                    str(tmp_path / 'out'), '--checkpoint_dir',
                    str(trained_model / 'checkpoint')) == 0
    record = json.loads((tmp_path / 'out' / 'faces.json').read_text())['toys.jpg']
    assert record['faces'], 'the detector found none of the cartoon faces'
    assert not any(face['used'] for face in record['faces']), record
    assert all(face['rejected'].startswith('the face check gives it') or 'skipped' in face
               for face in record['faces'])
    assert '[1/1] toys.jpg: no face found: upscaled bicubic; ' in capsys.readouterr().out
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / 'out' / 'toys.png')),
        srez_pixels.bicubic_upscale(np.asarray(Image.open(tmp_path / 'toys.jpg'))[None])[0])
