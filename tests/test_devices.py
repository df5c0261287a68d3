"""srez_devices: what --precision auto and --xla (unset) pick, and one process is its own chief."""
import pytest
import tensorflow as tf

import srez_devices


def test_a_cpu_trains_in_float32_without_xla_unless_asked():
    if tf.config.list_physical_devices('GPU'):
        pytest.skip('the policy for GPUs is another')
    assert srez_devices.resolve_precision('auto') == 'float32'
    assert srez_devices.resolve_precision('bfloat16') == 'bfloat16'
    assert not srez_devices.resolve_xla(None, 'auto') and not srez_devices.resolve_xla(None, 'one')
    assert not srez_devices.resolve_xla(None, 'mirrored')
    assert srez_devices.resolve_xla(True, 'one')


def test_one_process_is_the_chief_of_no_cluster():
    strategy = srez_devices.make_strategy('one')
    assert strategy.extended.should_checkpoint
    assert srez_devices.cluster(strategy) == {} and not srez_devices.several_workers(strategy)
