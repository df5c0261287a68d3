"""srez web: a local page that upscales a photo, an aligned face or a short video, the knob as a
slider, before and after against bicubic (Gradio, as the face upscalers' demos are).

    pip install -r requirements-web.txt && python srez_main.py --run serve   # 127.0.0.1:7860

The page keeps one srez_upscaler.Upscaler, which keeps the last photo's faces and background
(srez_photo's keep_last): moving the knob runs only the models and the paste. One job runs at a
time (the queue); uploads and pixels are limited; it listens on 127.0.0.1 unless --host says
otherwise; and nothing it serves reaches beyond the machine (Gradio's analytics off, no share
link, its fonts from the package). The upscale is an API too, as `/upscale`:

    from gradio_client import Client, handle_file
    image = Client('http://127.0.0.1:7860/').predict(handle_file('photo.png'), 0.5,
                                                     api_name='/upscale')
"""
import hashlib
import os
import tempfile

os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')  # Before Gradio loads: it reads it.

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import srez_imagefile  # noqa: E402
import srez_loader  # noqa: E402
import srez_pixels  # noqa: E402
import srez_upscaler  # noqa: E402
import srez_video  # noqa: E402

API_NAME = 'upscale'
FRAMES_PER_PHOTO = 30  # A video's frames count a thirtieth of a photo's pixels each.
# Boxes drawn for the faces found: upscaled by a model, left bicubic, not taken for a face.
COLOURS = {'used': (40, 200, 90), 'skipped': (240, 190, 40), 'rejected': (230, 60, 60)}
COLUMNS = ['face', 'box (x0, y0, x1, y1)', 'frame px', 'detector', 'face check', 'what became of it']


class Page:
    """The page's work on the machine: the Upscaler kept between requests, the last photo's
    bicubic upscale, and the files it wrote for download (in its own temporary folder)."""

    def __init__(self, upscaler, max_pixels):
        self.upscaler, self.max_pixels = upscaler, max_pixels
        self.folder = tempfile.mkdtemp(prefix='srez-page-')
        self._bicubic = (None, None)  # (key, uint8 bicubic upscale) of the last photo.
        self.last = None  # (upscaled uint8, faces) of the last photo, for the boxes.

    def upscale(self, image, sharpness, progress=gr.Progress()):
        """The photo `image` (uint8 [h, w, 3]) at `sharpness`, for the page: (bicubic and srez
        for the slider, the faces' rows, the PNG's path for download, a line saying what
        happened)."""
        path, upscaled, faces = self._upscaled(image, sharpness, progress)
        return ((self._bicubic_of(image), upscaled), face_rows(faces), path,
                _photo_line(image, faces, sharpness))

    def upscale_file(self, image, sharpness, progress=gr.Progress()):
        """The API's upscale: the path of the 4x PNG of `image` at `sharpness`, alone, so that a
        client downloads one file."""
        return self._upscaled(image, sharpness, progress)[0]

    def _upscaled(self, image, sharpness, progress):
        """(the path of the 4x PNG, the upscaled uint8 image, its faces)."""
        if image is None:
            raise gr.Error('Drop or pick a photo, or an aligned face, first.')
        image = np.asarray(image)
        if image.shape[0] * image.shape[1] > self.max_pixels:
            raise gr.Error(f'This photo has {image.shape[0] * image.shape[1]:,} pixels; the page '
                           f'takes up to {self.max_pixels:,} (--serve_max_pixels): shrink it, or '
                           f'use python srez_main.py --run infer.')
        progress(0.1, desc='Finding faces')
        self._set_sharpness(sharpness)
        result = self.upscaler.upscale_photo(image)
        faces = result.faces if image.shape[:2] not in [
            (size, size) for size in self.upscaler.input_sizes] else []
        self.last = (result.image, faces)
        path = os.path.join(self.folder, f'srez_{sharpness:.2f}.png')
        srez_imagefile.write_png(path, result.image[..., None] if result.image.ndim == 2
                                 else result.image)
        return path, result.image, faces

    def with_boxes(self, show, pair):
        """The slider's pair with the faces found drawn on its srez side, if `show`."""
        if self.last is None or pair is None:
            return pair
        image, faces = self.last
        return pair[0], draw_boxes(image, faces) if show else image

    def upscale_video(self, path, sharpness, progress=gr.Progress()):
        """The video at `path` upscaled at `sharpness`: (its MP4's path to play, the same for
        download, a line saying what happened)."""
        if not path:
            raise gr.Error('Drop or pick a short video first.')
        info = srez_video.probe(path)
        if info.width * info.height * max(info.frames, 1) > FRAMES_PER_PHOTO * self.max_pixels:
            raise gr.Error(f'This video is {info.frames} frames of {info.width}x{info.height}: '
                           f'more than the page takes (--serve_max_pixels); use python '
                           f'srez_main.py --run infer --input it.')
        self._set_sharpness(sharpness)
        target = os.path.join(self.folder, f'srez_{sharpness:.2f}_'
                              f'{os.path.splitext(os.path.basename(path))[0]}.mp4')

        def counted(frames):
            for done, result in enumerate(self.upscaler.upscale_frames(frames), 1):
                progress((done, info.frames or None), desc='Frames', unit='frames')
                yield result

        result = srez_video.upscale_video(counted, path, target)
        used = sum(bool(track.decision and track.decision.model)
                   for track in self.upscaler.pipeline.tracker.tracks)
        return target, target, (f'{result.frames} frames of {4 * info.width}x{4 * info.height}, '
                                f'{used} face{"s" * (used != 1)} tracked and upscaled at sharpness '
                                f'{sharpness:g}' + (f'; sound {result.audio}' if result.audio
                                                    else '') + '.')

    def _set_sharpness(self, sharpness):
        if self.upscaler.source.kind == srez_loader.SHIPPED:
            self.upscaler.set_sharpness(float(sharpness))

    def _bicubic_of(self, image):
        """The bicubic upscale of `image`, kept while the photo stays the same."""
        key = (image.shape, hashlib.blake2b(np.ascontiguousarray(image)).digest())
        if self._bicubic[0] != key:
            self._bicubic = (key, srez_pixels.bicubic_in_windows(
                image[..., None] if image.ndim == 2 else image))
        return self._bicubic[1]


def face_rows(faces):
    """The table of faces found: a row each, with what became of it and why."""
    return [[number, ', '.join(f'{value:.0f}' for value in face.box), round(face.frame_size, 1),
             round(face.score, 3), round(face.check, 2),
             f'upscaled by the {face.model} px model' if face.used else
             face.skipped or face.rejected] for number, face in enumerate(faces, 1)]


def draw_boxes(image, faces):
    """uint8 RGB `image` (the 4x upscale) with each face's box drawn, coloured by its fate."""
    picture = Image.fromarray(image).convert('RGB')
    draw = ImageDraw.Draw(picture)
    for number, face in enumerate(faces, 1):
        fate = 'used' if face.used else 'rejected' if face.rejected else 'skipped'
        box = [4 * value for value in face.box]
        draw.rectangle(box, outline=COLOURS[fate], width=3)
        draw.text((box[0] + 3, box[1] + 2), str(number), fill=COLOURS[fate])
    return np.asarray(picture)


def _photo_line(image, faces, sharpness):
    used = sum(face.used for face in faces)
    height, width = image.shape[:2]
    what = (f'{len(faces)} detection{"s" * (len(faces) != 1)}, {used} upscaled by the model'
            if faces else 'upscaled whole (an aligned face), or no face found')
    return f'{4 * width}x{4 * height} at sharpness {sharpness:g}: {what}.'


def build(page):
    """The page (gr.Blocks) for `page`'s work."""
    with gr.Blocks(title='srez: sharper small faces') as blocks:
        gr.Markdown('## srez: sharper small faces\nDrop a photo, an aligned 16x16 face or a '
                    'short video; move the knob from fidelity (0) to sharp (1).')
        with gr.Row():
            with gr.Column(scale=2):
                with gr.Tab('Photo'):
                    photo = gr.Image(label='Photo or aligned face', type='numpy',
                                     sources=['upload', 'clipboard'], elem_id='photo')
                with gr.Tab('Video'):
                    video = gr.Video(label='A short video', sources=['upload'],
                                     elem_id='video')
                    video_button = gr.Button('Upscale the video', elem_id='upscale-video')
                    upscaled_video = gr.Video(label='Upscaled video', elem_id='upscaled-video')
                sharpness = gr.Slider(0, 1, value=page.upscaler.source.sharpness or 0.0,
                                      step=0.05, label='sharpness', elem_id='sharpness',
                                      info='0 = fidelity (most faithful), 1 = sharp (GAN detail)')
                show_boxes = gr.Checkbox(label='Show the faces found', value=True,
                                         elem_id='boxes')
                status = gr.Markdown(elem_id='status')
            with gr.Column(scale=3):
                slider = gr.ImageSlider(label='bicubic | srez', type='numpy', format='jpeg',
                                        elem_id='result', max_height=720)
                download = gr.DownloadButton('Download', elem_id='download')
                table = gr.Dataframe(headers=COLUMNS, label='Faces found, and why any was not '
                                     'upscaled', elem_id='faces', interactive=False)
                full = gr.Image(type='filepath', visible=False, format='png')
                api_trigger = gr.Button(visible=False)
        outputs = [slider, table, download, status]
        photo.upload(page.upscale, [photo, sharpness], outputs, api_name=False).then(
            page.with_boxes, [show_boxes, slider], slider, api_name=False)
        # The knob: the same photo again, whose faces and background the pipeline kept.
        sharpness.release(page.upscale, [photo, sharpness], outputs, api_name=False).then(
            page.with_boxes, [show_boxes, slider], slider, api_name=False)
        show_boxes.change(page.with_boxes, [show_boxes, slider], slider, api_name=False)
        api_trigger.click(page.upscale_file, [photo, sharpness], full, api_name=API_NAME)
        video_button.click(page.upscale_video, [video, sharpness],
                           [upscaled_video, download, status], api_name='upscale_video')
    return blocks


def run_serve(config):
    """--run serve: the page of config (a srez_config.ServeConfig) at config.host:config.port,
    until Ctrl-C."""
    model = srez_loader.load(config.choice)
    print(model.source.line())
    upscaler = srez_upscaler.Upscaler.from_model(model, rules=config.rules, keep_last=True)
    blocks = build(Page(upscaler, config.serve_max_pixels))
    blocks.queue(default_concurrency_limit=1, max_size=32)
    print(f'The page is at http://{config.host}:{config.port}/ (Ctrl-C stops it).', flush=True)
    blocks.launch(server_name=config.host, server_port=config.port, share=False,
                  max_file_size=f'{config.serve_max_megabytes}mb', ssr_mode=False,
                  mcp_server=False, quiet=True, show_error=True, footer_links=['api'])
