"""srez_config: one name and one default per setting, flags made from them, recipes that apply."""
import dataclasses

import pytest

import srez_config
import srez_main


@pytest.fixture
def parsed():
    """Parses argv with srez_main's own parser for one test, then restores the defaults."""
    def parse(*argv):
        srez_main.FLAGS.unparse_flags()
        srez_main.parse_flags(['srez_main.py', *argv])
        return srez_main.FLAGS
    yield parse
    srez_main.FLAGS.unparse_flags()


def test_every_setting_is_a_flag_with_its_default(parsed):
    flags = parsed()
    model = srez_main.config_from_flags(srez_config.ModelConfig)
    damage = srez_main.config_from_flags(srez_config.DamageConfig)
    train = srez_main.config_from_flags(srez_config.TrainConfig, model=model, damage=damage)
    assert model == srez_config.ModelConfig()
    assert damage == srez_config.DamageConfig() and damage.damage_clean == 1.0  # No damage.
    assert train == srez_config.TrainConfig()
    # And each flag's help is the setting's.
    for config in (srez_config.TrainConfig, srez_config.DamageConfig):
        for field in srez_config.flag_fields(config):
            assert flags[field.name].help.endswith(field.metadata['help'])


def test_ranges_keep_their_number_type(parsed):
    parsed('--damage_jpeg_quality', '40,80')
    damage = srez_main.config_from_flags(srez_config.DamageConfig)
    assert damage.damage_jpeg_quality == (40, 80)
    assert isinstance(damage.damage_jpeg_quality[0], int)


def test_a_recipe_sets_defaults_that_flags_on_the_command_line_override(parsed):
    flags = parsed('--recipe', 'fidelity', '--gene_units', '16,8,8')
    recipe = srez_config.RECIPES['fidelity']
    model = srez_main.config_from_flags(srez_config.ModelConfig)
    assert model.gene_units == (16, 8, 8)  # Given: kept.
    assert model.disc_units == recipe['disc_units'] and model.gene_residual  # Not given: recipe's.
    assert flags.learning_rate_schedule == 'cosine' and flags.gene_l1_factor == 1.0
    # Without a recipe, the faithful 2016 defaults.
    assert parsed().gene_l1_factor == 0.9


@pytest.mark.parametrize('recipe', srez_config.RECIPES)
def test_every_recipe_names_real_settings_with_valid_values(parsed, recipe):
    names = {field.name for config in (srez_config.ModelConfig, srez_config.TrainConfig,
                                       srez_config.DamageConfig)
             for field in srez_config.flag_fields(config)}
    assert set(srez_config.RECIPES[recipe]) <= names
    parsed('--recipe', recipe)  # The validators pass.


def test_a_mismatch_names_every_differing_setting_as_flags():
    saved = srez_config.ModelConfig(gene_units=(8, 8, 8))
    wanted = srez_config.ModelConfig(gene_units=(16, 8, 8), gene_residual=True)
    assert saved.mismatch(saved) is None
    assert saved.mismatch(wanted) == ('--gene_units 8,8,8 --nogene_residual',
                                      '--gene_units 16,8,8 --gene_residual')


def test_saved_configs_round_trip_and_missing_settings_take_their_defaults():
    config = srez_config.ModelConfig(gene_units=(16, 8, 8), gene_pixel_shuffle=True)
    import json
    assert srez_config.ModelConfig.from_dict(json.loads(config.to_json())) == config
    # A config saved before a setting existed was made with its default.
    values = dataclasses.asdict(config)
    del values['gene_pixel_shuffle']
    assert not srez_config.ModelConfig.from_dict(values).gene_pixel_shuffle
    with pytest.raises(ValueError, match='unknown model settings gene_wings'):
        srez_config.ModelConfig.from_dict(dict(values, gene_wings=2))


@pytest.mark.parametrize('text, sources', [
    ('dataset', [('dataset', 1.0)]),
    ('a,b:2', [('a', 1.0), ('b', 2.0)]),
    (' faces/utk:0.5 , ../celeba ', [('faces/utk', 0.5), ('../celeba', 1.0)]),
    ('c:drive:3', [('c:drive', 3.0)]),
    ('time:12:1', [('time:12', 1.0)]),
])
def test_dataset_names_folders_each_with_a_weight(text, sources):
    assert srez_config.dataset_sources(text) == sources


@pytest.mark.parametrize('text', ['a,', 'a:0', 'a:-1', ':2', 'a:inf'])
def test_a_dataset_without_a_folder_or_weight_is_refused(text):
    with pytest.raises(ValueError, match='is not a folder with a weight'):
        srez_config.dataset_sources(text)
