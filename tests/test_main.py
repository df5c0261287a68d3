"""srez_main: the flags' defaults are TrainConfig's."""
import dataclasses

import srez_main
import srez_train

# Chosen for the device from --precision auto and --xla (unset); TrainConfig's defaults are the
# plain variant (float32, no XLA) that tests and notebooks build without flags.
RESOLVED_FOR_THE_DEVICE = {'precision', 'xla'}


def test_flag_defaults_are_train_config_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # train_config makes the default output folders.
    srez_main.FLAGS.unparse_flags()
    srez_main.FLAGS(['srez_main.py'])
    try:
        from_flags = srez_main.train_config()
    finally:
        srez_main.FLAGS.unparse_flags()
    defaults = srez_train.TrainConfig()
    differing = {field.name: (getattr(from_flags, field.name), getattr(defaults, field.name))
                 for field in dataclasses.fields(srez_train.TrainConfig)
                 if field.name not in RESOLVED_FOR_THE_DEVICE
                 and getattr(from_flags, field.name) != getattr(defaults, field.name)}
    assert not differing, f'(flag default, TrainConfig default) differ: {differing}'
