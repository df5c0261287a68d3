"""Gains over bicubic of several models on several face sets and damages, as one table: the
figures of docs/data.md and models/README.md, by srez's own eval protocol (srez_eval).

    python tools/eval_table.py shipped@0.5 runs/d_all/models/batch_18000.zip \\
        --sets celeba_val=DATA/celeba_val,utk_60+=DATA/heldout/utkface_60+ \\
        --damages clean,jpeg:75,noise:4 --max_images 400

A model is `shipped@A` (the shipped pairs at --sharpness A), a model file or a checkpoint
folder. Each cell is the mean PSNR of the model minus that of bicubic, in dB, on the same
damaged inputs (srez_config.Damage: clean, blur:S, noise:S, jpeg:Q, grey, joined by +).
"""
import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import srez_config  # noqa: E402
import srez_eval  # noqa: E402
import srez_files  # noqa: E402
import srez_input  # noqa: E402
import srez_loader  # noqa: E402


def model_of(name, input_size):
    """The srez_loader.Model that `name` names, run by TensorFlow (the shipped pair that takes
    `input_size`)."""
    if name.startswith('shipped@'):
        return srez_loader.shipped(float(name.split('@')[1]), tensorflow=True,
                                   input_size=input_size)
    return srez_loader.from_path(name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('models', nargs='+')
    parser.add_argument('--sets', required=True, help='name=folder,name=folder')
    parser.add_argument('--damages', default='clean,jpeg:75,noise:4')
    parser.add_argument('--max_images', type=int, default=0)
    parser.add_argument('--input_size', type=int, default=16,
                        help='the shipped pair measured: 16 (16 -> 64 px) or 32 (32 -> 128 px)')
    args = parser.parse_args()
    sets = [part.split('=', 1) for part in args.sets.split(',')]
    damages = args.damages.split(',')
    columns = [(name, damage) for name, _ in sets for damage in damages]
    print('| model | ' + ' | '.join(f'{name} {damage}' for name, damage in columns) +
          ' | sharpness, first column |')
    print('|---' * (len(columns) + 2) + '|')
    keys = {name: srez_input.usable_images(folder, srez_files.find_images(folder),
                                           log=lambda line: None)[
        :args.max_images or None] for name, folder in sets}
    for name in args.models:
        model = model_of(name, args.input_size)
        size = model.source.model.input_size
        cells = []
        with tempfile.TemporaryDirectory() as folder:
            for set_name, damage in columns:
                results = srez_eval.evaluate(
                    model.upscalers[size], keys[set_name], srez_input.load_file,
                    size * srez_config.SCALE, folder, model.source, set_name, batch_size=64,
                    damage=srez_config.Damage.parse(damage))
                cells.append(results['model']['psnr'] - results['bicubic']['psnr'])
                if len(cells) == 1:
                    sharpness = results['model']['sharpness']
        print(f'| {name} | ' + ' | '.join(f'{cell:+.2f}' for cell in cells) +
              f' | {sharpness:.2f} |', flush=True)


if __name__ == '__main__':
    main()
