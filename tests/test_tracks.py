"""srez_tracks: faces followed across keyframes, smoothed, decided once per track, held still."""
import numpy as np
import pytest

import srez_config
import srez_faces
import srez_tracks

SIZES = (16, 32)


def detection(centre, side=16.0, wobble=0.0, rng=None, check=0.9, score=0.99):
    """A Face as the detector and the face check give it: its landmarks where the template puts
    them in a frame of `side` px at `centre`, each off by up to `wobble` px."""
    points = (srez_faces.TEMPLATE - 0.5) * side + centre
    if wobble:
        points = points + rng.uniform(-wobble, wobble, points.shape)
    low, high = points.min(0) - side / 4, points.max(0) + side / 4
    face = srez_faces.Face(box=[*low, *high], landmarks=points.tolist(), score=score)
    face.check, face.frame_size = check, side
    return face


def tracked(detections_by_key, last, cuts=(), keyframe_every=4):
    """A Tracker fed {keyframe: [Face]} in order, the video ending at frame `last`."""
    tracker = srez_tracks.Tracker(SIZES, srez_config.FaceRules(), keyframe_every)
    for key in sorted(detections_by_key):
        tracker.observe(key, detections_by_key[key], cut=key in cuts)
    tracker.finish(last)
    return tracker


def centre_of(face):
    return np.mean(face.landmarks, axis=0)


def test_two_faces_stay_two_tracks_and_move_between_keyframes_along_their_path():
    keys = range(0, 41, 4)
    tracker = tracked({key: [detection((50 + 0.5 * key, 60)), detection((150, 80 - 0.25 * key))]
                       for key in keys}, last=40)
    assert len(tracker.tracks) == 2
    for index in (0, 5, 18, 33, 40):
        faces = [face for _, face in tracker.faces_at(index)]
        assert len(faces) == 2
        expected = [(50 + 0.5 * index, 60), (150, 80 - 0.25 * index)]
        for face, centre in zip(faces, expected):
            # The template's landmarks are not centred in its frame: compare with a detection's.
            np.testing.assert_allclose(centre_of(face), centre_of(detection(centre)), atol=1e-6)


def test_smoothing_takes_out_the_detectors_wobble():
    rng = np.random.default_rng(0)
    keys = range(0, 81, 4)
    raw = {key: [detection((100, 100), wobble=0.6, rng=rng)] for key in keys}
    tracker = tracked(raw, last=80)
    truth = centre_of(detection((100, 100)))
    smoothed = [np.abs(centre_of(tracker.faces_at(key)[0][1]) - truth).max() for key in keys]
    detected = [np.abs(centre_of(raw[key][0]) - truth).max() for key in keys]
    assert np.mean(smoothed) < 0.6 * np.mean(detected)


def test_a_missed_keyframe_is_filled_in_and_a_face_gone_for_longer_ends_its_track():
    face = detection((80, 80))
    tracker = tracked({0: [face], 4: [face], 8: [], 12: [face], 16: [], 20: [], 24: []}, last=24)
    assert len(tracker.tracks) == 1
    assert all(tracker.faces_at(index) for index in range(0, 13))  # Filled in at 8.
    assert not tracker.faces_at(24)


def test_a_scene_cut_ends_every_track_and_starts_new_ones():
    tracker = tracked({0: [detection((80, 80))], 4: [detection((80, 80))],
                       6: [detection((81, 80))], 10: [detection((81, 80))]}, last=10, cuts=(6,))
    assert len(tracker.tracks) == 2
    assert [track.number for track, _ in tracker.faces_at(5)] == [0]
    assert [track.number for track, _ in tracker.faces_at(6)] == [1]


def test_a_track_is_decided_once_so_its_face_does_not_blink():
    # The face check wavers at one keyframe; the track's mean keeps it a face throughout.
    keys = range(0, 21, 4)
    tracker = tracked({key: [detection((90, 90), check=0.3 if key == 8 else 0.9)]
                       for key in keys}, last=20)
    assert all(face.model == 16 for index in range(21) for _, face in tracker.faces_at(index))
    # A texture that the check turns away stays turned away, on every frame.
    tracker = tracked({key: [detection((90, 90), check=0.2)] for key in keys}, last=20)
    assert all(not face.model and face.rejected
               for index in range(21) for _, face in tracker.faces_at(index))


@pytest.mark.parametrize('size, expected', [(16, 16), (26, 32), (60, 0)])
def test_each_track_goes_to_the_model_of_its_size(size, expected):
    tracker = tracked({key: [detection((100, 100), side=size)] for key in (0, 4, 8)}, last=8)
    assert {face.model for index in range(9) for _, face in tracker.faces_at(index)} == {expected}


def test_a_still_faces_frame_stays_on_its_pixels_and_a_moving_one_follows():
    rng = np.random.default_rng(1)
    still = tracked({key: [detection((100.5, 100.5), wobble=0.4, rng=rng)]
                     for key in range(0, 41, 4)}, last=40)
    corners = {tuple(face.frame[:, 2]) for index in range(41) for _, face in still.faces_at(index)}
    assert len(corners) == 1
    moving = tracked({key: [detection((100 + 0.25 * key, 100))] for key in range(0, 41, 4)},
                     last=40)
    columns = [-face.frame[0, 2] for index in range(41) for _, face in moving.faces_at(index)]
    assert columns == sorted(columns) and 8 <= columns[-1] - columns[0] <= 11


def test_steadied_upscales_blend_where_a_face_stands_still_only():
    still = tracked({key: [detection((100, 100))] for key in (0, 4, 8)}, last=8)
    moving = tracked({key: [detection((100 + key, 100))] for key in (0, 4, 8)}, last=8)
    for tracker, blends in ((still, True), (moving, False)):
        outputs = []
        for index in range(3):
            track, _ = tracker.faces_at(index)[0]
            output = np.full((64, 64, 3), float(index), np.float32)
            outputs.append(tracker.steadied([track], [output])[0][0, 0, 0])
        assert (outputs[2] < 2) == blends


def test_steadied_inputs_blend_where_a_face_stands_still_apart_from_the_upscales():
    still = tracked({key: [detection((100, 100))] for key in (0, 4, 8)}, last=8)
    inputs, outputs = [], []
    for index in range(3):
        track, _ = still.faces_at(index)[0]
        cut = np.full((16, 16, 3), float(index), np.float32)
        inputs.append(still.steadied_inputs([track], [cut])[0][0, 0, 0])
        outputs.append(still.steadied([track], [4 * cut.repeat(4, 0).repeat(4, 1)])[0][0, 0, 0])
    # Each keeps its own last image: the inputs average the inputs, the upscales the upscales.
    assert inputs[0] == 0 and 0 < inputs[2] < 2
    assert outputs[0] == 0 and 0 < outputs[2] < 8 and outputs[2] == pytest.approx(4 * inputs[2])
