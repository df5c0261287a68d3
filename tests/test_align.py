"""srez_align and --run align: faces framed any other way, re-aligned into srez's frame."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import srez_align
import srez_detect
import srez_faces
from helpers import REPO_ROOT, run_srez

ASTRONAUT_TRUTH = os.path.join(REPO_ROOT, 'docs', 'astronaut_truth.png')


def face_picture(size=(300, 320), centre=(150, 170), side=150, angle=8.0):
    """uint8 [h, w, 3]: the astronaut's face box, `side` px, turned `angle` degrees, its centre at
    `centre` of a grey picture of `size` (w, h)."""
    face = Image.open(ASTRONAUT_TRUTH).convert('RGB').resize((side, side), Image.BICUBIC)
    canvas = Image.new('RGB', size, (118, 120, 125))
    canvas.paste(face, (centre[0] - side // 2, centre[1] - side // 2))
    return np.asarray(canvas.rotate(angle, Image.BICUBIC, center=centre, fillcolor=(118, 120, 125)))


@pytest.fixture(scope='module')
def detector():
    return srez_detect.Mtcnn()


def test_an_aligned_face_has_its_landmarks_where_the_template_puts_them(detector):
    image, fate = srez_align.align(detector, face_picture(), max_outside=0.4)
    assert image.shape == (218, 178, 4) and fate.faces == 1 and fate.outside == 0
    assert (image[..., 3] == 255).all()  # The frame lies inside the picture: no fill.
    row = detector.detect(image[..., :3].astype(np.float32), thresholds=srez_align.THRESHOLDS)[0]
    landmarks = np.stack([row[5:10], row[10:15]], 1) + 0.5
    expected = srez_faces.TEMPLATE * srez_align.BOX_SIZE + [srez_align.BOX_X, srez_align.BOX_Y]
    # A least-squares similarity: the landmarks' centre, spread and turn are the template's (a
    # face's own shape is not, so each landmark keeps a few pixels of its own).
    np.testing.assert_allclose(landmarks.mean(0), expected.mean(0), atol=1.5)
    spread = np.linalg.norm(landmarks - landmarks.mean(0), axis=1).mean()
    assert spread == pytest.approx(np.linalg.norm(expected - expected.mean(0), axis=1).mean(),
                                   rel=0.04)
    eyes = landmarks[1] - landmarks[0]
    assert abs(np.degrees(np.arctan2(eyes[1], eyes[0]))) < 2  # Turned 8 degrees, now level.


def test_a_tight_crop_is_filled_by_its_edge_and_the_fill_marked(detector):
    picture = face_picture()[122:218, 102:198]  # Tighter than the frame: it runs off.
    image, fate = srez_align.align(detector, picture, max_outside=0.6)
    assert 0.1 < fate.outside < 0.6
    alpha = image[..., 3]
    assert alpha[0, 0] == 0 and alpha[109, 89] == 255  # Fill in the corner, picture at the face.
    inside = alpha == 255
    assert 0.1 < 1 - inside[60:188, 25:153].mean() == pytest.approx(fate.outside, abs=0.02)
    # The fill repeats the picture's edge: along a row, the colours beyond the picture's left
    # edge are those at the edge.
    row = 120
    edge = np.argmax(inside[row])
    assert edge > 2 and np.abs(image[row, :edge - 1, :3].astype(int)
                               - image[row, edge, :3]).max() <= 12


def test_pictures_turned_away_say_why(tmp_path):
    pictures = tmp_path / 'pictures'
    pictures.mkdir()
    Image.fromarray(face_picture()).save(pictures / 'face.png')
    Image.fromarray(face_picture()[122:218, 102:198]).save(pictures / 'tight.png')
    Image.new('RGB', (200, 200), (90, 140, 60)).save(pictures / 'grass.png')
    pair = np.concatenate([face_picture(angle=0), face_picture(angle=0)], 1)
    Image.fromarray(pair).save(pictures / 'two.png')
    (pictures / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg\xff\xd9')
    result = run_srez(tmp_path, '--run', 'align', '--input', 'pictures', '--aligned_dir', 'out',
                      '--align_max_outside', '0.1')
    assert result.returncode == 0, result.stderr
    assert ('1 of 5 pictures aligned' in result.stdout and '1 cannot be decoded' in result.stdout
            and '1 no face found' in result.stdout and '1 more than one face' in result.stdout
            and '1 the frame runs off the picture by over 10%' in result.stdout)
    assert sorted(os.listdir(tmp_path / 'out')) == ['align.json', 'face.png']
    with Image.open(tmp_path / 'out' / 'face.png') as aligned:
        assert aligned.size == (178, 218) and aligned.mode == 'RGB'
    with open(tmp_path / 'out' / 'align.json') as file:
        record = json.load(file)
    assert record['two.png']['rejected'] == srez_align.SEVERAL_FACES
    assert record['two.png']['faces'] == 2
    assert record['tight.png']['rejected'] == srez_align.OFF_PICTURE
    assert record['tight.png']['outside'] > 0.1
    assert record['face.png']['written'].endswith('face.png')


def test_align_refuses_an_input_that_is_not_a_folder(tmp_path):
    result = run_srez(tmp_path, '--run', 'align', '--input', 'missing')
    assert result.returncode == 2
    assert result.stderr.strip() == ('srez: error: --input missing is not a folder: give the '
                                     'folder of face pictures to re-align.')
