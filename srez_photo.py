"""srez photo: a photo's way through srez, as one object that callers keep.

    pipeline = PhotoPipeline(models)      # {input size: model on aligned faces}
    result = pipeline.upscale(photo)      # uint8 [h, w, 3] -> PhotoResult: image, faces

As GFPGAN's GFPGANer holds its face helper and takes a background upsampler, a PhotoPipeline
owns the face detector, the face check, the rules that decide what is a face (a
srez_config.FaceRules) and the models, and takes the upscale of the rest of the photo from its
caller (bicubic, in windows, by default). Its steps are its methods: `find_faces` (detection, the
second look, the rules), `upscale_background`, `paste_faces` (cut, model, paste back); `upscale`
runs them in turn. With `keep_last`, it keeps the last photo's faces, their cuts and its
background, so the same photo again (a web page's knob moving: new models, same photo) runs only
the models and the paste. `upscale_frames` takes a video's frames: its faces are detected on
keyframes and followed from frame to frame by a srez_tracks.Tracker, the state it keeps between
frames (`tracker`).
"""
import collections
import dataclasses
import hashlib

import numpy as np

import srez_config
import srez_faces
import srez_lite
import srez_pixels
import srez_tracks

# A new scene starts where a frame differs from the last by this much (the mean absolute
# difference of their greys shrunk 8 times, in [0, 1]): camera noise and motion stay far under.
SCENE_CUT = 0.12

@dataclasses.dataclass(frozen=True)
class PhotoResult:
    """A photo upscaled: `image`, uint8 with the photo's channels, and its `faces`
    (srez_faces.Face, each saying where it is and whether the model upscaled it)."""
    image: np.ndarray
    faces: list


@dataclasses.dataclass
class _Kept:
    """What `keep_last` keeps of the last photo: its key, faces, their cuts and background."""
    key: tuple
    faces: list
    cuts: list
    background: np.ndarray


class PhotoPipeline:
    """The faces of photos found, aligned, upscaled by a model and pasted into the upscale of the
    rest."""

    def __init__(self, models, background=srez_pixels.bicubic_in_windows, rules=srez_config.FaceRules(),
                 keep_last=False):
        """models: {input size: the model on aligned faces, float32 [n, s, s, 3] in [0, 1] ->
        float32 [n, 4s, 4s, 3]}; background: uint8 [h, w, 3] -> uint8 [4h, 4w, 3], the upscale
        of what is not a face; rules: a srez_config.FaceRules; keep_last: keep the last photo's
        detection, cuts and background for the next call on the same photo."""
        self.models, self.background, self.rules = models, background, rules
        self.keep_last = keep_last
        self._detector = self._check = None  # Made at the first photo: they load networks.
        self._kept = None
        self.tracker = None  # The last video's srez_tracks.Tracker.

    def find_faces(self, photo):
        """Every detection in uint8 `photo` [h, w, 3], as srez_faces.Faces, best first, each
        examined: `model` names the input size of the model that will take it (0: none), and
        `skipped` or `rejected` says why not."""
        if self._detector is None:
            self._detector = srez_faces.Detector()
            check = srez_lite.network(srez_config.FACE_CHECK)
            self._check = lambda frames: check(frames=frames)[0]
        faces = self._detector.detect(photo)
        if not faces:
            return faces
        side = srez_faces.CHECK_SIDE
        views = [srez_faces.cut(photo, srez_faces.alignment(face, side), side) / 255
                 for face in faces]
        sizes = sorted(self.models)
        for face, score in zip(faces, self._check(np.stack(views))):
            face.model = srez_faces.examine(face, float(score), sizes, self.rules) or 0
        return faces

    def upscale_background(self, photo):
        """The upscale of uint8 `photo` [h, w, 3] without its faces: uint8 [4h, 4w, 3]."""
        return self.background(photo)

    def paste_faces(self, photo, faces, background):
        """Cuts from uint8 `photo` each of `faces` that a model takes, upscales it and pastes it
        into `background` (its upscale, changed in place, and returned)."""
        cuts = self._cuts(photo, faces)
        return _pasted(background, cuts, self._outputs(cuts))

    def upscale(self, photo):
        """uint8 `photo` [h, w, 3] upscaled: its faces by the models, the rest by the background
        upscale, done after detection so that the two never hold their memory at once.
        Returns a PhotoResult."""
        key = (photo.shape, hashlib.blake2b(np.ascontiguousarray(photo)).digest(),
               tuple(sorted(self.models)))
        kept = self._kept if self._kept is not None and self._kept.key == key else None
        self._kept = None  # Memory for the new photo, not the last one.
        if kept is None:
            faces = self.find_faces(photo)
            kept = _Kept(key, faces, self._cuts(photo, faces), self.upscale_background(photo))
        if self.keep_last:
            self._kept = kept
        background = kept.background.copy() if self.keep_last else kept.background
        return PhotoResult(_pasted(background, kept.cuts, self._outputs(kept.cuts)), kept.faces)

    def upscale_frames(self, frames):
        """The frames of a video (uint8 [h, w, 3] each, in order) upscaled, their faces tracked
        (srez_tracks): yields PhotoResults in the same order, a few frames after each came in."""
        tracker = None
        pending = collections.deque()  # (index, frame) not yet settled.
        last_key = previous = None
        for index, frame in enumerate(frames):
            if tracker is None:
                keyframe_every = srez_tracks.keyframe_interval(*frame.shape[:2])
                self.tracker = tracker = srez_tracks.Tracker(sorted(self.models), self.rules,
                                                             keyframe_every)
            small = _thumbnail(frame)
            cut = previous is not None and np.abs(small - previous).mean() > SCENE_CUT
            if last_key is None or cut or index - last_key >= keyframe_every:
                tracker.observe(index, self.find_faces(frame), cut)
                last_key = index
            previous = small
            pending.append((index, frame))
            while pending and tracker.settled(pending[0][0]):
                yield self._frame_result(*pending.popleft())
        if pending:
            if pending[-1][0] != last_key:  # The last frame is a keyframe: tracks end on it.
                tracker.observe(pending[-1][0], self.find_faces(pending[-1][1]))
            tracker.finish(pending[-1][0])
        while pending:
            yield self._frame_result(*pending.popleft())

    def _frame_result(self, index, frame):
        tracked = self.tracker.faces_at(index)
        used = [(track, face) for track, face in tracked if face.model]
        tracks = [track for track, _ in used]
        cuts = self._cuts(frame, [face for _, face in used])
        inputs = self.tracker.steadied_inputs(tracks, [cut for _, cut in cuts])
        outputs = self.tracker.steadied(tracks, self._outputs(
            [(matrix, cut) for (matrix, _), cut in zip(cuts, inputs)]))
        background = self.upscale_background(frame)
        return PhotoResult(_pasted(background, cuts, outputs), [face for _, face in tracked])

    def _cuts(self, photo, faces):
        """[(frame matrix, float32 cut [s, s, 3] in [0, 1])] of the faces a model takes, each cut
        on the photo's pixels (where a tracker placed it, or snapped)."""
        cuts = []
        for face in faces:
            if face.model:
                matrix = face.frame if face.frame is not None else srez_faces.snapped(
                    srez_faces.alignment(face, face.model), face.model)
                cuts.append((matrix, srez_faces.cut(photo, matrix, face.model) / 255))
        return cuts

    def _outputs(self, cuts):
        """The models' upscales of `cuts` (as _cuts gives them), in their order; the cuts of one
        size run through their model together."""
        outputs = [None] * len(cuts)
        for size in {cut.shape[0] for _, cut in cuts}:
            places = [place for place, (_, cut) in enumerate(cuts) if cut.shape[0] == size]
            for place, output in zip(places, self.models[size](
                    np.stack([cuts[place][1] for place in places]))):
                outputs[place] = output
        return outputs


def _pasted(background, cuts, outputs):
    """`background` with `outputs`, the upscales of `cuts` (as _cuts gives them), pasted where
    their frames lie."""
    return srez_faces.paste(background, outputs, [matrix for matrix, _ in cuts])


def _thumbnail(frame):
    """The grey of uint8 `frame` [h, w, 3], shrunk 8 times: float32 in [0, 1]."""
    grey = srez_pixels.to_float(frame) @ srez_pixels.LUMA.astype(np.float32)
    height, width = (side // 8 * 8 or side for side in grey.shape)
    return srez_pixels.area_resize(grey[:height, :width, np.newaxis],
                                   (max(1, height // 8), max(1, width // 8)))
