"""srez settings: the model's and training's, each a frozen dataclass whose fields are the flags.

`ModelConfig` holds every setting that changes what the networks are: a checkpoint stores it
whole, every mode rebuilds the networks from it, and a resume with another one is refused.
`TrainConfig` holds how a run trains them. Each field with a `help` is also a command-line flag
of the same name and default, which srez_main defines from here, so a setting has one name and
one default. Each recipe is a set of flag values that a user's own flags override.

This module imports only the standard library: srez_main defines and checks flags with it before
TensorFlow loads.
"""
import dataclasses
import json
import os

SCALE = 4  # srez upscales 4x: two 2x stages.
RUNS = ('train', 'demo', 'infer', 'eval', 'export', 'bench', 'facecheck', 'align', 'serve')
RECIPE_NAMES = ('faithful', 'fidelity', 'sharp', 'fidelity_128', 'sharp_128')
DEFAULT_DATASET = 'dataset'
SYNTHETIC = 'synthetic'
SYNTHETIC_SOURCE = 'built-in synthetic faces'  # What a checkpoint says it trained on, then.
# The shipped model files (models/README.md).
MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models')
# {input size: {name: path}}: the pair for 16 -> 64 px faces, and the one for 32 -> 128 px.
SHIPPED_MODELS = {size: {name: os.path.join(MODELS_DIR, f'{name}{suffix}.zip')
                         for name in ('fidelity', 'sharp')}
                  for size, suffix in ((16, ''), (32, '_128'))}
# The same pairs as LiteRT files, which upscale without TensorFlow (srez_lite).
SHIPPED_LITE = {size: {name: os.path.splitext(path)[0] + '.tflite' for name, path in pair.items()}
                for size, pair in SHIPPED_MODELS.items()}
# The second look at each face a photo's detector finds (srez_facecheck), as a LiteRT file.
FACE_CHECK = os.path.join(MODELS_DIR, 'face_check.tflite')


def setting(default, help, **rules):
    """A dataclass field that is also a flag.

    rules: lower_bound / upper_bound (numbers), choices (strings), count / at_least (lists of
    positive integers), interval=(low, high) (a range 'a,b' with low <= a <= b <= high, of the
    default's number type), check=(function of the value, 'what it must be'), and parse=function
    of the value that raises ValueError saying what is wrong. A default of None is allowed: the
    field's type says what kind of flag it is.
    """
    return dataclasses.field(default=default, metadata=dict(help=help, **rules))


def dataset_sources(text):
    """The folders and weights of a --dataset value: 'faces' or 'a,b:2' -> [('a', 1.0), ('b',
    2.0)]; a folder whose name ends in a colon and a number takes a weight to keep it: 'a:1:1'.
    Raises ValueError saying what is wrong."""
    sources = []
    for part in text.split(','):
        folder, _, weight = part.strip().rpartition(':')
        try:
            number = float(weight)
        except ValueError:  # No weight: a folder (whose name may hold a colon).
            folder, number = part.strip(), 1.0
        if not folder or not 0 < number < float('inf'):
            raise ValueError(f'{part!r} is not a folder with a weight: give folders separated by '
                             f'commas, each with an optional positive weight, e.g. celeba,utk:2')
        sources.append((folder, number))
    return sources


def _sample_size_is_valid(size):
    return 64 <= size <= 128 and size % 4 == 0


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What the networks are. Every default is the 2016 srez, and is what checkpoints made
    before a setting existed were trained with."""
    gene_units: tuple = setting(
        (256, 128, 96), 'Generator widths: one for each of the two 2x upscale stages, then the '
        'final width.', count=3)
    disc_units: tuple = setting(
        (64, 128, 256, 512), 'Discriminator widths, one per stride-2 stage.', at_least=1)
    sample_size: int = setting(
        64, 'Image sample size in pixels (64..128, a multiple of 4).',
        check=(_sample_size_is_valid, 'a multiple of 4 from 64 to 128'))
    gene_residual: bool = setting(
        False, 'The generator corrects a bilinear upscale of its input instead of painting the '
        'face from nothing (off = the original srez generator).')
    gene_blocks: tuple = setting(
        (2, 2), 'Residual blocks in each of the generator\'s two 2x stages (at the input\'s size, '
        'then twice it).', count=2)
    gene_pixel_shuffle: bool = setting(
        False, 'The generator learns its 2x upscales as sub-pixel convolutions (pixel shuffle) '
        'instead of a nearest-neighbour upscale and a convolution, at the same cost (off = the '
        'original srez generator).')

    @property
    def input_size(self):
        """The side of the aligned face the generator takes: a quarter of the sample size."""
        return self.sample_size // SCALE

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        """A ModelConfig from saved values; settings they lack take their defaults (the
        behaviour from before the setting existed). Raises ValueError for unknown settings."""
        known = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f'unknown model settings {", ".join(unknown)} (made by a newer srez?)')
        return cls(**{name: tuple(value) if isinstance(known[name].default, tuple) else value
                      for name, value in values.items()})

    def mismatch(self, other):
        """None when `other` equals this config; else the settings in which they differ, as the
        flag words of each: ('--gene_units 8,8,8 --nogene_residual', '--gene_units 16,8,8
        --gene_residual')."""
        names = [field.name for field in dataclasses.fields(self)
                 if getattr(self, field.name) != getattr(other, field.name)]
        if not names:
            return None
        return tuple(' '.join(flag_words(name, getattr(config, name)) for name in names)
                     for config in (self, other))


def mirror(flag, default, given=False):
    """A field that is not a flag of its own but mirrors another config's flag `flag`: its value,
    or with `given`, whether the command line gave it."""
    return dataclasses.field(default=default, metadata=dict(mirror=flag, given=given))


def from_environment(variable, default, what):
    """A field that is not a flag: the environment variable `variable`, `what` (a positive
    integer)."""
    return dataclasses.field(default=default, metadata=dict(environment=(variable, what)))


def _share(help_text, default):
    return setting(default, help_text, lower_bound=0, upper_bound=1)


@dataclasses.dataclass(frozen=True)
class DamageConfig:
    """How training damages its inputs as real small faces are damaged (srez_damage). Every
    input stays clean by default: the 2016 recipe. The other defaults are what the shipped
    models were trained with, so `--damage_clean 0.3` alone turns that damage on."""
    damage_clean: float = _share(
        'Share of training inputs left clean, exact area downscales of the truth (1 = no damage, '
        'as the original); the other damage_ flags say how the rest are damaged.', 1.0)
    damage_resize: float = _share('Share of damaged inputs downscaled bilinear or bicubic '
                                  '(antialiased or not) instead of by area.', 0.5)
    damage_jpeg: float = _share('Share of damaged inputs saved as JPEG (4:2:0 chroma, its blocks '
                                'at a random phase).', 0.7)
    damage_jpeg_quality: tuple = setting((30, 95), 'Range of the JPEG quality.',
                                         interval=(1, 100))
    damage_grey: float = _share('Share of training faces made black and white, truth and input '
                                '(0 = none, as the original).', 0.0)

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


@dataclasses.dataclass(frozen=True)
class DeviceConfig:
    """Where and how the tensors run: devices, precision, compilation."""
    precision: str = setting(
        'auto', 'Compute precision; auto picks the fastest for the device (variables and losses '
        'stay float32).', choices=['auto', 'float32', 'bfloat16', 'float16'])
    xla: bool = setting(None, 'Compile the training and inference steps with XLA (default: where '
                        'it is faster).')
    xla_cache_dir: str = setting(
        None, 'Folder where compiled XLA programs are kept, so the next run of the same model '
        'starts without compiling (default: $XDG_CACHE_HOME/srez/xla, else ~/.cache/srez/xla; '
        '"" = no cache).')
    strategy: str = setting(
        'auto', 'Devices to train on: one device, all local GPUs (mirrored), or several machines '
        'configured by TF_CONFIG (multiworker); auto = mirrored with several GPUs.',
        choices=['auto', 'one', 'mirrored', 'multiworker'])
    log_device_placement: bool = setting(False, 'Log the device where variables are placed.')
    # Splits the CPU into this many logical devices, so that --strategy mirrored can be tried
    # (and checked against one device) on a machine without GPUs (docs/scaling.md).
    cpu_devices: int = from_environment('SREZ_CPU_DEVICES', 1, 'a positive number of logical '
                                        'CPU devices')


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a run trains the model (the original srez's flags and defaults, and new ones)."""
    dataset: str = setting(
        DEFAULT_DATASET, f'Folder of training images (searched recursively), or "{SYNTHETIC}" for '
        'the built-in synthetic faces; the default falls back to them when it holds no images. '
        'Several folders are separated by commas, each with an optional weight (celeba,utk:2: '
        'utk\'s images drawn twice as often). eval without --input measures the faces it holds '
        'out, and bench times its pipeline.', parse=lambda text: dataset_sources(text))
    recipe: str = setting(
        'faithful', 'A set of flag values that flags given on the command line override. '
        'faithful = the 2016 srez; fidelity and sharp = what trained the shipped 16 -> 64 px '
        'models, fidelity_128 and sharp_128 the 32 -> 128 px ones (models/README.md).',
        choices=list(RECIPE_NAMES))
    batch_size: int = setting(16, 'Number of samples per batch (per device).', lower_bound=1)
    checkpoint_dir: str = setting('checkpoint', 'Output folder where checkpoints are dumped.')
    checkpoint_period: int = setting(10000, 'Number of batches in between checkpoints.',
                                     lower_bound=1)
    epsilon: float = setting(1e-8, 'Fuzz term to avoid numerical instability (Adam).',
                             check=(lambda value: value > 0, 'positive'))
    gene_l1_factor: float = setting(
        0.9, 'Multiplier for generator L1 loss term (the rest is the adversarial loss; at 1 the '
        'discriminator is not trained at all).', lower_bound=0, upper_bound=1)
    gene_content_factor: float = setting(
        0.0, 'Multiplier for a full-resolution L1 term against the truth, added to the '
        'generator loss (0 = the original srez loss).', lower_bound=0)
    gene_gradient_factor: float = setting(
        0.0, 'Multiplier for a mean-squared term between the gradient magnitudes of the output '
        'and of the truth, added to the generator loss (0 = none).', lower_bound=0)
    disc_joint_batch: bool = setting(
        False, 'The discriminator sees real and generated faces as one batch, so its batch norm '
        'keeps what tells them apart (off = the original: one batch each, each normalised on its '
        'own, which hides how sharp a batch is).')
    gene_input_noise: float = setting(
        0.03, 'Standard deviation of the Gaussian noise added to the generator\'s input in '
        'training, as the original srez did (0 = none).', lower_bound=0)
    learning_beta1: float = setting(0.5, 'Beta1 parameter used for AdamOptimizer.',
                                    check=(lambda beta: 0 <= beta < 1, 'in [0, 1)'))
    learning_rate_start: float = setting(0.0002, 'Starting learning rate used for AdamOptimizer.',
                                         check=(lambda rate: rate > 0, 'positive'))
    learning_rate_half_life: int = setting(5000, 'Number of batches until learning rate is '
                                           'halved.', lower_bound=1)
    learning_rate_schedule: str = setting(
        'halving', 'halving: the rate halves every --learning_rate_half_life batches, as in the '
        'original; cosine: it falls from --learning_rate_start to 0 along a half cosine over '
        '--max_batches.', choices=['halving', 'cosine'])
    summary_period: int = setting(200, 'Number of batches between sample grids.', lower_bound=1)
    random_seed: int = setting(0, 'Seed used to initialize the random generators.')
    test_vectors: int = setting(16, 'Number of held-out images used as test vectors.',
                                lower_bound=1)
    train_dir: str = setting('train', 'Output folder for sample grids and summaries.')
    train_time: float = setting(20.0, 'Time in minutes to train the model (fractions allowed).',
                                check=(lambda minutes: minutes > 0, 'positive'))
    max_batches: int = setting(0, 'Stop after this many batches in all (0 = no limit).',
                               lower_bound=0)
    ema_decay: float = setting(
        0.999, 'Decay of the average of the generator weights that training keeps beside the '
        'raw ones (0 = no averaging: the average is the raw weights).',
        check=(lambda decay: 0 <= decay < 1, 'in [0, 1)'))
    init_from: str = setting(
        '', 'A new run starts its generator from this model: a srez model file (.zip) or a '
        'checkpoint folder (its averaged weights), of any --sample_size; the discriminator starts '
        'afresh. Ignored when resuming.')
    cache: bool = setting(False, 'Keep the decoded face boxes in memory (or --cache_file), so '
                          'images are decoded only once.')
    cache_file: str = setting('', 'With --cache: a file to cache the decoded faces in, for '
                              'datasets larger than memory.')
    # Resolved from the device's --precision and --xla, whose 'auto' depends on the devices
    # (srez_devices.resolved).
    precision: str = 'float32'
    xla: bool = False
    model: ModelConfig = ModelConfig()
    damage: DamageConfig = DamageConfig()
    device: DeviceConfig = DeviceConfig()


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Which mode runs."""
    run: str = setting(
        'demo', 'What to do: train a model, make a demo movie of its sample grids (the default, '
        'as in the original), upscale images (infer), measure the model against bicubic (eval), '
        'export it, benchmark training and inference speed (bench), or train the face check '
        'that photos\' detections pass (facecheck), re-align a folder of faces framed any '
        'other way into the frame srez trains on (align), or serve a local web page that '
        'upscales (serve).', choices=list(RUNS))


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """Which trained model infer, eval, export and bench use (srez_loader.load)."""
    model: str = setting(
        '', 'A model to use: a srez model file (.zip), a checkpoint folder, or a LiteRT file '
        '(.tflite, with the .json --export_lite writes beside it; upscaling only) (default: the '
        'newest checkpoint of --checkpoint_dir, else the shipped models).')
    shipped_models: bool = setting(
        False, 'Use the shipped models even when --checkpoint_dir holds a checkpoint (without '
        'one they are used anyway).')
    sharpness: float = setting(
        0.5, 'With the shipped models: 0 = the fidelity model (most faithful), 1 = the sharp '
        'model (GAN detail), between = their weights interpolated.', lower_bound=0, upper_bound=1)
    generator_weights: str = setting(
        'average', 'Of a checkpoint: the averaged generator weights (or the raw ones when it has '
        'none), or the raw weights as last trained.', choices=['average', 'raw'])
    # Where training keeps its checkpoints, whose newest comes first when no model is named; one
    # of synthetic faces only when the folder was named.
    checkpoint_dir: str = mirror('checkpoint_dir', 'checkpoint')
    checkpoint_dir_named: bool = mirror('checkpoint_dir', False, given=True)
    sharpness_named: bool = mirror('sharpness', False, given=True)


@dataclasses.dataclass(frozen=True)
class FaceRules:
    """What a photo's detection must be for a model to paint a face there, and which model
    takes it (srez_faces.examine; docs/faces.md measures each rule). Sizes are a face's frame
    in photo pixels."""
    face_check_threshold: float = setting(
        0.5, 'Photos: a detection is taken for a face from this score of the face check, the '
        'second look at it (0 = every detection, the check turned off).', lower_bound=0,
        upper_bound=1)
    # Frames under small_frame need a detector score of small_frame_score: most false detections
    # are that small. Under min_frame, or turned over max_turn degrees, a face keeps the
    # background: models are trained on upright faces of their own size.
    small_frame: float = 20.0
    small_frame_score: float = 0.8
    min_frame: float = 12.0
    max_turn: float = 30.0
    # A face goes to the next larger model once its frame is over next_model_from times a
    # model's input, and past max_frame_scale times the largest model's input it keeps the
    # background: from 18 px frames the 32 px model gains more than the 16 px one, and shrinking
    # larger frames to the input loses more than the model gains.
    next_model_from: float = 1.125
    max_frame_scale: float = 1.4


@dataclasses.dataclass(frozen=True)
class ImagesConfig:
    """The images infer upscales and eval measures on, and how many run together."""
    input: str = setting(
        '', 'infer: an image file or a folder of images (searched recursively). eval: a folder '
        'of ground-truth faces (default: the held-out test vectors of --dataset).')
    max_images: int = setting(0, 'infer, eval: use only the first this many images (0 = all).',
                              lower_bound=0)
    upscale_batch: int = setting(16, 'infer, eval: images (or faces of a photo) that run through '
                                 'the generator together.', lower_bound=1)


@dataclasses.dataclass(frozen=True)
class InferConfig:
    """How infer upscales image files."""
    output: str = setting('upscaled', 'infer: the folder to write the upscaled PNGs into.')
    faces: str = setting(
        'auto', 'infer: find the faces of each image, align, upscale and paste them back into '
        'its bicubic upscale (on), or upscale each image whole (off); auto = whole for images of '
        'the model\'s input size (aligned faces, 16x16 at the default --sample_size), faces for '
        'the rest.', choices=['auto', 'on', 'off'])
    compare: bool = setting(False, 'infer: also write <stem>_compare.png, input nearest | '
                            'bicubic | output, side by side.')
    images: ImagesConfig = ImagesConfig()
    choice: ModelChoice = ModelChoice()
    rules: FaceRules = FaceRules()


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How eval measures a model against bicubic."""
    images: ImagesConfig = ImagesConfig()
    damage: str = setting(
        'clean', 'eval: damage every input the same way each time, as real small faces are '
        'damaged: clean, or blur:SIGMA (pixels of the truth), noise:SIGMA (1/255) and '
        'jpeg:QUALITY joined by +, e.g. blur:1.2+noise:3+jpeg:75 (also --degrade).',
        parse=lambda text: Damage.parse(text), alias='degrade')
    eval_dir: str = setting('eval', 'eval: the folder to write eval.json and eval.png into.')
    choice: ModelChoice = ModelChoice()
    train: TrainConfig = TrainConfig()  # Its --dataset's held-out faces, without --input.


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Where export writes the model."""
    export_dir: str = setting('export', 'export: the folder to write the SavedModel into.')
    export_file: str = setting(
        '', 'export: write the generator as one srez model file (.zip, what --init_from, --model '
        'and the shipped models are) instead of a SavedModel.')
    export_lite: str = setting(
        '', 'export: write the model as LiteRT files into this folder instead of a SavedModel, '
        'which upscale without TensorFlow (the light install): <name>.tflite and its '
        'description <name>.json; for --shipped_models, each file of each pair.')
    choice: ModelChoice = ModelChoice()
    sample_size: int = mirror('sample_size', 64)  # Of the shipped pairs, the one it exports.


@dataclasses.dataclass(frozen=True)
class FaceCheckConfig:
    """How facecheck trains the second look at photos' detections (srez_facecheck)."""
    face_check_frames: int = setting(160000, 'facecheck: frames made from --dataset\'s faces '
                                     'to train on.', lower_bound=256)
    face_check_batches: int = setting(6000, 'facecheck: batches of 256 frames to train.',
                                      lower_bound=1)
    face_check_file: str = setting('face_check.tflite', 'facecheck: the LiteRT file to write '
                                   '(the shipped one is models/face_check.tflite).')
    face_check_grey_share: float = setting(
        0.0, 'facecheck: share of the frames, faces and not, made black and white. The shipped '
        'check used 0; 0.25 finds more faces in grey photos but takes more textures for faces '
        '(docs/faces.md).', lower_bound=0, upper_bound=1)
    dataset: str = mirror('dataset', DEFAULT_DATASET)  # The aligned faces it learns from.
    random_seed: int = mirror('random_seed', 0)


@dataclasses.dataclass(frozen=True)
class AlignConfig:
    """How align re-frames a folder of faces (--input) as srez's training faces (srez_align)."""
    aligned_dir: str = setting('aligned', 'align: the folder to write the re-aligned faces into.')
    align_max_outside: float = setting(
        0.4, 'align: turn away a face whose 128 px box runs off its picture by more than this '
        'share (the rest is filled, and left out of training\'s losses).', lower_bound=0,
        upper_bound=1)
    images: ImagesConfig = ImagesConfig()


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What bench times."""
    bench_batches: int = setting(10, 'bench: batches per timed repeat.', lower_bound=1)
    bench_repeats: int = setting(5, 'bench: timed repeats of each figure, of which the median is '
                                 'reported.', lower_bound=1)
    bench_batch_sizes: tuple = setting((), 'bench: batch sizes to measure, e.g. 16,64,256 '
                                       '(default: --batch_size).', at_least=0)
    train: TrainConfig = TrainConfig()  # What it times: the step, the pipeline of --dataset.
    choice: ModelChoice = ModelChoice()  # With --model or --shipped_models, their widths.


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """The local web page of --run serve (srez_web)."""
    host: str = setting('127.0.0.1', 'serve: the address the page listens on (127.0.0.1: this '
                        'machine only; 0.0.0.0: every network it is on).')
    port: int = setting(7860, 'serve: the port of the page.', lower_bound=1, upper_bound=65535)
    serve_max_megabytes: int = setting(50, 'serve: the largest upload, in megabytes.',
                                       lower_bound=1)
    serve_max_pixels: int = setting(
        16_000_000, 'serve: the most pixels of a photo, or of a video\'s frame times its frames '
        'over 30, the page takes (its 4x upscale is 16 times as many).', lower_bound=1)
    choice: ModelChoice = ModelChoice()
    rules: FaceRules = FaceRules()


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What demo makes a movie of."""
    train_dir: str = mirror('train_dir', 'train')


@dataclasses.dataclass(frozen=True)
class Damage:
    """One fixed damage, as eval's --damage names it: blur sigma (pixels of the truth), noise
    sigma (1/255) and JPEG quality, 0 for each part left out; and `grey`, a black-and-white face
    (its truth too). All 0: clean."""
    blur: float = 0.0
    noise: float = 0.0
    jpeg: int = 0
    grey: bool = False

    @classmethod
    def parse(cls, text):
        """'clean', or parts joined by '+': 'blur:1.2', 'noise:4', 'jpeg:75', 'grey'.

        Raises ValueError saying what is wrong.
        """
        values = {}
        for part in text.split('+'):
            name, _, value = part.strip().partition(':')
            if name in ('clean', 'grey') and not value and name not in values:
                values[name] = True
                continue
            if name not in ('blur', 'noise', 'jpeg') or not value or name in values:
                raise ValueError(f'{part!r} is not a damage: use clean, or blur:SIGMA, noise:SIGMA, '
                                 f'jpeg:QUALITY and grey joined by +, e.g. '
                                 f'blur:1.2+noise:3+jpeg:75')
            try:
                number = int(value) if name == 'jpeg' else float(value)
            except ValueError:
                number = -1
            if name == 'jpeg' and not 1 <= number <= 100 or not 0 <= number < 100:
                what = 'a quality from 1 to 100' if name == 'jpeg' else 'a sigma from 0 to 100'
                raise ValueError(f'{part!r}: {name} takes {what}') from None
            values[name] = number
        values.pop('clean', None)
        return cls(**values)

    def __str__(self):
        parts = [f'{name}:{getattr(self, name):g}' for name in ('blur', 'noise', 'jpeg')
                 if getattr(self, name)] + (['grey'] if self.grey else [])
        return '+'.join(parts) or 'clean'


# What trained the shipped models (models/README.md): flag values, which a user's own override.
# `sharp` fine-tunes the shipped `fidelity` model with the adversarial term back on; the 128 px
# pair starts from the 64 px models (the generator is fully convolutional).
_SHIPPED_MODEL = dict(gene_units=(64, 32, 32), disc_units=(32, 64, 128, 256), gene_residual=True,
                      gene_pixel_shuffle=True, damage_clean=0.3, damage_grey=0.1)
_FIDELITY = dict(_SHIPPED_MODEL, gene_l1_factor=1.0, gene_content_factor=4.0, gene_input_noise=0.0,
                 learning_beta1=0.9, learning_rate_schedule='cosine', learning_rate_start=0.001,
                 train_time=1e6)
_SHARP = dict(_SHIPPED_MODEL, gene_l1_factor=0.9, gene_content_factor=4.0,
              gene_gradient_factor=800.0, disc_joint_batch=True, gene_input_noise=0.0,
              learning_rate_start=0.0004, train_time=1e6)
RECIPES = {
    'faithful': {},
    'fidelity': dict(_FIDELITY, max_batches=18000),
    'sharp': dict(_SHARP, init_from=SHIPPED_MODELS[16]['fidelity'], max_batches=2000),
    'fidelity_128': dict(_FIDELITY, sample_size=128, init_from=SHIPPED_MODELS[16]['fidelity'],
                         max_batches=2000),
    'sharp_128': dict(_SHARP, sample_size=128, init_from=SHIPPED_MODELS[32]['fidelity'],
                      max_batches=1000),
}


def flag_fields(config_class):
    """The fields of `config_class` that are flags (those with a help text)."""
    return [field for field in dataclasses.fields(config_class) if 'help' in field.metadata]


def flag_words(name, value):
    """The command-line words that set flag `name` to `value`: '--gene_units 8,8,8'."""
    if isinstance(value, bool):
        return f'--{name}' if value else f'--no{name}'
    if isinstance(value, (tuple, list)):
        value = ','.join(map(str, value))
    return f'--{name} {value}'


# Every config whose fields are flags, in the order srez_main defines them.
FLAG_CONFIGS = (RunConfig, TrainConfig, ModelConfig, DamageConfig, DeviceConfig, ModelChoice,
                FaceRules, ImagesConfig, InferConfig, EvalConfig, ExportConfig, FaceCheckConfig,
                AlignConfig, BenchConfig, ServeConfig)
