"""Builds the folders that docs/data.md's experiments train and measure on, as symbolic links
into ../shared (its faces are licensed for non-commercial research: never copy them into the
project).

    python srez_main.py --run align --input ../shared/faces/utkface --aligned_dir DATA/aligned/utkface
    (the same for ffhq and celeba_more)
    python tools/experiment_data.py DATA

Under DATA it makes:
- celeba_train/, celeba_val/: CelebA's training (ids under 162771) and validation partitions of
  ../shared/celeba;
- train/{utkface,ffhq,celeba_more}/: the re-aligned faces that training may see, and
  train/utkface_opaque/: the same UTKFace faces without their alpha (the fill taken for picture);
- heldout/{utkface_0-12,utkface_13-59,utkface_60+,ffhq}/: the slice no run trains on, a tenth of
  each source (of each age group for UTKFace), drawn by a seeded shuffle of the sorted names.
"""
import os
import random
import sys

import numpy as np
from PIL import Image

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared')
FIRST_VALIDATION_ID = 162771
HELD_OUT_SHARE, SEED = 0.1, 2026
AGE_GROUPS = (('0-12', 0, 12), ('13-59', 13, 59), ('60+', 60, 200))


def link(paths, folder):
    os.makedirs(folder, exist_ok=True)
    for path in paths:
        target = os.path.join(folder, os.path.basename(path))
        if not os.path.lexists(target):
            os.symlink(os.path.abspath(path), target)


def held_out(names):
    """(held out, kept) of sorted `names`: a seeded tenth of them, and the rest."""
    shuffled = sorted(names)
    random.Random(SEED).shuffle(shuffled)
    count = round(HELD_OUT_SHARE * len(shuffled))
    return sorted(shuffled[:count]), sorted(shuffled[count:])


def age(name):
    return int(os.path.basename(name).split('_')[0])


def build_folders(data):
    celeba = os.path.join(SHARED, 'celeba')
    names = sorted(os.listdir(celeba))
    link([os.path.join(celeba, n) for n in names if int(n[:6]) < FIRST_VALIDATION_ID],
         os.path.join(data, 'celeba_train'))
    link([os.path.join(celeba, n) for n in names if int(n[:6]) >= FIRST_VALIDATION_ID],
         os.path.join(data, 'celeba_val'))
    aligned = os.path.join(data, 'aligned')
    link([os.path.join(aligned, 'celeba_more', n)
          for n in sorted(os.listdir(os.path.join(aligned, 'celeba_more'))) if n.endswith('.png')],
         os.path.join(data, 'train', 'celeba_more'))
    ffhq = [os.path.join(aligned, 'ffhq', n) for n in os.listdir(os.path.join(aligned, 'ffhq'))
            if n.endswith('.png')]
    out, kept = held_out(ffhq)
    link(out, os.path.join(data, 'heldout', 'ffhq'))
    link(kept, os.path.join(data, 'train', 'ffhq'))
    utkface = [os.path.join(aligned, 'utkface', n)
               for n in os.listdir(os.path.join(aligned, 'utkface')) if n.endswith('.png')]
    training = []
    for group, low, high in AGE_GROUPS:
        out, kept = held_out([path for path in utkface if low <= age(path) <= high])
        link(out, os.path.join(data, 'heldout', f'utkface_{group}'))
        training += kept
    link(training, os.path.join(data, 'train', 'utkface'))
    opaque = os.path.join(data, 'train', 'utkface_opaque')
    os.makedirs(opaque, exist_ok=True)
    for path in training:
        target = os.path.join(opaque, os.path.basename(path))
        if not os.path.exists(target):
            Image.fromarray(np.asarray(Image.open(path).convert('RGB'))).save(target)
    for parent in ('', 'train', 'heldout'):
        for folder in sorted(os.listdir(os.path.join(data, parent))):
            path = os.path.join(data, parent, folder)
            if os.path.isdir(path) and folder not in ('aligned', 'train', 'heldout'):
                print(f'{path}: {len(os.listdir(path))} faces')


if __name__ == '__main__':
    build_folders(sys.argv[1])
