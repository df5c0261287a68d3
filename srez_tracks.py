"""srez tracks: the faces of a video followed from frame to frame, steady over time.

Run frame by frame as photos, a video's faces shimmer where nothing moves: each frame's detection
puts the landmarks a fraction of a pixel elsewhere, the cut jumps, and a face can be taken on one
frame and turned away on the next. A Tracker is fed the detections of keyframes (every few frames,
and at each scene cut), joins them into tracks by the overlap of their boxes, and gives each frame
its faces:

- each track's landmarks are smoothed over time by a zero-phase, Gaussian-weighted straight fit
  over its keyframes (as KEEP steadies faces before aligning them), and interpolated between
  keyframes, a missed keyframe filled in; tracks end at scene cuts;
- whether a track is a face, and which model takes it, is decided once, from all its detections
  seen by then (their mean face-check score and detector score, their median frame): a face does
  not blink in and out;
- its frame stays on the same photo pixels until the smoothed face has moved most of a pixel away
  (rounding alone flips between two pixels as a still face's landmarks wobble);
- where a face stands still, its input to the model and its upscale are each blended with the
  track's last ones (`steadied_inputs`, `steadied`): no shimmer where nothing moves.

Frame indices count from 0. A frame's faces are settled once the keyframes its smoothing reaches
have been seen (`settled`), or at the end (`finish`).
"""
import dataclasses

import numpy as np

import srez_config
import srez_faces

# Frames from one detection to the next: 4, and more for large frames, whose detection costs
# more than the rest of their frames (one in PIXELS_PER_FRAME more per such pixels), to 8.
KEYFRAME_EVERY, PIXELS_PER_FRAME, MOST_KEYFRAME_EVERY = 4, 50_000, 8
SIGMA = 1.0  # The smoothing's spread, in keyframes; it reaches 2 sigma each way.
REACH = 2
MATCH_OVERLAP = 0.3  # A detection continues a track whose last box it overlaps this much (IoU).
MAX_GAP = 1  # Keyframes a track may be missed at and still go on.
SNAP_HOLD = 0.75  # Photo pixels the face may move from its frame's pixels before the frame does.
# A track's input and upscale are each blended with its last ones by BLEND, falling to nothing as
# its face moves by MOTION_LIMIT photo pixels from one frame to the next (docs/video.md measures
# both, and blending the inputs alone).
BLEND, MOTION_LIMIT = 0.8, 0.1


def keyframe_interval(height, width):
    """The frames from one detection to the next for frames of `height` x `width` pixels."""
    return min(MOST_KEYFRAME_EVERY, max(KEYFRAME_EVERY, round(height * width / PIXELS_PER_FRAME)))


@dataclasses.dataclass
class Track:
    """One face over time: `observations` {keyframe index: srez_faces.Face detected there}, the
    `decision` (a Face that says which model takes the track, or why none does) once made, and
    where its frame lies on the photo's pixels (`corner`, for each model size)."""
    number: int
    observations: dict
    ended: int = None  # The last frame it may appear in, once known.
    decision: srez_faces.Face = None
    corner: dict = dataclasses.field(default_factory=dict)
    exact: np.ndarray = None  # Where its frame's corner would be, unsnapped, on the last frame.
    motion: float = 0.0  # How far that moved from the frame before, in photo pixels.
    held: bool = False  # Whether its frame stayed on the same pixels.
    cut: np.ndarray = None  # Its last input to the model, once steadied.
    output: np.ndarray = None  # Its last upscale, once steadied.

    def record(self):
        """A JSON-ready dict of this track for the faces record."""
        first, last = min(self.observations), max(self.observations)
        record = self.decision.record() if self.decision else {}
        record.pop('box', None)
        record.pop('landmarks', None)
        return dict(track=self.number, first_frame=first, last_frame=last,
                    keyframes=len(self.observations), **record)


class Tracker:
    """The tracks of one video, fed keyframe by keyframe (see the module's docstring)."""

    def __init__(self, sizes, rules=srez_config.FaceRules(), keyframe_every=KEYFRAME_EVERY):
        """sizes: the models' input sizes, ascending; rules: a srez_config.FaceRules;
        keyframe_every: frames from one keyframe to the next (keyframe_interval gives it)."""
        self.sizes, self.rules, self.keyframe_every = sizes, rules, keyframe_every
        self.tracks, self.keyframes, self.cuts = [], [], []
        self.finished = None  # The last frame's index, once the video has ended.

    def observe(self, index, faces, cut=False):
        """Takes the detections `faces` (srez_faces.Faces, examined) of keyframe `index`; `cut`:
        a new scene starts there, and every track ends before it."""
        if cut:
            self.cuts.append(index)
            for track in self._live():
                track.ended = index - 1
        live = self._live()
        unmatched = list(faces)
        pairs = sorted(((_overlap(face.box, track.observations[max(track.observations)].box),
                         track_number, face_number)
                        for track_number, track in enumerate(live)
                        for face_number, face in enumerate(faces)), reverse=True)
        taken_tracks, taken_faces = set(), set()
        for overlap, track_number, face_number in pairs:
            if overlap < MATCH_OVERLAP or track_number in taken_tracks \
                    or face_number in taken_faces:
                continue
            live[track_number].observations[index] = faces[face_number]
            taken_tracks.add(track_number)
            taken_faces.add(face_number)
        unmatched = [face for number, face in enumerate(faces) if number not in taken_faces]
        for face in unmatched:
            self.tracks.append(Track(len(self.tracks), {index: face}))
        self.keyframes.append(index)
        for track in self._live():
            missed = [key for key in self.keyframes if key > max(track.observations)]
            if len(missed) > MAX_GAP:
                track.ended = missed[0] - 1

    def finish(self, last):
        """The video ended at frame `last`: every frame is settled."""
        self.finished = last

    def settled(self, index):
        """Whether frame `index`'s faces will not change with more keyframes."""
        if self.finished is not None:
            return True
        later = [key for key in self.keyframes if key >= index]
        return len(later) > REACH + (0 if later and later[0] == index else 1)

    def faces_at(self, index):
        """[(Track, srez_faces.Face)] of the tracks frame `index` is in: each face with its
        smoothed landmarks, `model` saying which model takes it, `frame` where its cut lies."""
        faces = []
        for track in self.tracks:
            landmarks = self._landmarks(track, index)
            if landmarks is None:
                continue
            if track.decision is None:
                track.decision = self._decide(track)
            decision = track.decision
            face = dataclasses.replace(decision, landmarks=landmarks.tolist(), box=_box(landmarks))
            if face.model:
                face.frame = self._frame(track, landmarks, face.model)
            faces.append((track, face))
        return faces

    def steadied_inputs(self, tracks, cuts):
        """The cuts (float32 [s, s, 3] each) of the faces of `tracks` on this frame, each blended
        with its track's last one where its face stood still (BLEND): camera noise and the
        codec's changes averaged out before the model sees them."""
        return _blended(tracks, cuts, 'cut')

    def steadied(self, tracks, outputs):
        """The upscales `outputs` (float32 [S, S, 3] each) of the faces of `tracks` on this
        frame, each blended with its track's last one where its face stood still (BLEND)."""
        return _blended(tracks, outputs, 'output')

    def _live(self):
        return [track for track in self.tracks if track.ended is None]

    def _scene(self, index):
        """The first frame of the scene that frame `index` is in."""
        return max([cut for cut in self.cuts if cut <= index], default=0)

    def _landmarks(self, track, index):
        """The track's smoothed landmarks [5, 2] at frame `index`, or None where it is not."""
        keys = sorted(track.observations)
        last = track.ended if track.ended is not None else (
            self.finished if self.finished is not None else max(self.keyframes))
        if index < keys[0] or index > last or self._scene(index) != self._scene(keys[0]):
            return None
        before = [key for key in keys if key <= index][-1]
        after = [key for key in keys if key >= index]
        if not after:  # After its last keyframe: held there until it ends.
            return self._smoothed(track, before)
        share = 0.0 if after[0] == before else (index - before) / (after[0] - before)
        return (1 - share) * self._smoothed(track, before) + share * self._smoothed(track,
                                                                                 after[0])

    def _smoothed(self, track, key):
        """The track's landmarks at keyframe `key`: a line fitted to its keyframes within REACH
        sigmas (counted in keyframes of the video), each weighted by a Gaussian of its distance,
        and read at `key`. A straight fit, not a mean: a face moving steadily is not pulled
        back at the ends of its track."""
        place = self.keyframes.index(key)
        times, points, weights = [], [], []
        for other, face in track.observations.items():
            distance = (self.keyframes.index(other) - place) / SIGMA
            if abs(distance) <= REACH:
                times.append(distance)
                points.append(np.asarray(face.landmarks, np.float64).ravel())
                weights.append(np.exp(-0.5 * distance ** 2))
        if len(points) == 1:
            return points[0].reshape(5, 2)
        design = np.stack([np.ones(len(times)), times], 1) * np.sqrt(weights)[:, None]
        fit = np.linalg.lstsq(design, np.stack(points) * np.sqrt(weights)[:, None], rcond=None)[0]
        return fit[0].reshape(5, 2)

    def _decide(self, track):
        """A Face that stands for the whole track: examined (srez_faces.examine) with its
        detections' mean check score and detector score, at their median frame."""
        faces = list(track.observations.values())
        median = sorted(faces, key=lambda face: face.frame_size)[len(faces) // 2]
        decision = srez_faces.Face(box=median.box, landmarks=median.landmarks,
                                   score=float(np.mean([face.score for face in faces])))
        decision.model = srez_faces.examine(decision, float(np.mean([face.check for face in faces])),
                                            self.sizes, self.rules) or 0
        return decision

    def _frame(self, track, landmarks, size):
        """The matrix from photo pixels to the frame of the model taking `size`, on the photo's
        pixels: where the last frame of this track was, until the face has moved SNAP_HOLD away."""
        alignment = srez_faces.alignment(srez_faces.Face(box=[], landmarks=landmarks, score=0),
                                         size)
        exact = srez_faces.frame_centre(alignment, size) - size / 2
        held = track.corner.get(size)
        corner = held if held is not None and np.abs(exact - held).max() <= SNAP_HOLD \
            else np.round(exact)
        track.held = held is not None and np.array_equal(corner, held)
        track.motion = np.abs(exact - track.exact).max() if track.exact is not None else 0.0
        track.corner[size], track.exact = corner, exact
        return np.array([[1.0, 0.0, -corner[0]], [0.0, 1.0, -corner[1]]])


def _blended(tracks, images, kept):
    """`images` of `tracks`' faces, each blended with its track's last one (its attribute `kept`,
    which then becomes the blend) by BLEND, falling to nothing as the face moves MOTION_LIMIT."""
    blended = []
    for track, image in zip(tracks, images):
        weight = BLEND * max(0.0, 1 - track.motion / MOTION_LIMIT)
        last = getattr(track, kept)
        if track.held and last is not None and last.shape == image.shape:
            image = weight * last + (1 - weight) * image
        setattr(track, kept, image)
        blended.append(image)
    return blended


def _box(landmarks):
    low, high = np.min(landmarks, axis=0), np.max(landmarks, axis=0)
    return [float(low[0]), float(low[1]), float(high[0]), float(high[1])]


def _overlap(a, b):
    """Intersection over union of boxes [x0, y0, x1, y1]."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    shared = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - shared
    return shared / max(union, 1e-9)
