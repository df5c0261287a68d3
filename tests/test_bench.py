"""Tests for srez_bench through the CLI: `--run bench` prints one JSON report and a table."""
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

MAIN = os.path.join(REPO_ROOT, 'srez_main.py')
TINY = ['--dataset', 'synthetic', '--gene_units', '8,8,8', '--disc_units', '8,8',
        '--test_vectors', '2', '--batch_size', '2']


def bench(cwd, *flags):
    return subprocess.run([sys.executable, MAIN, '--run', 'bench', *TINY, *flags],
                          cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))


def test_bench_prints_a_json_report_for_each_batch_size_and_both_variants(tmp_path):
    result = bench(tmp_path, '--bench_batches', '1', '--bench_batch_sizes', '2,4', '--precision',
                   'bfloat16', '--noxla')
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path) == []  # Bench writes no grids and no checkpoints.
    report = json.loads(result.stdout)  # stdout holds the JSON alone.
    assert report['device'] and report['tensorflow']
    assert report['configured'] == {'precision': 'bfloat16', 'xla': False}
    # Counted from the layers (tests/test_model.py checks the count by hand).
    assert 0 < report['inference_gflop_per_image'] < report['train_gflop_per_image'] < 0.1
    assert [r['batch_size'] for r in report['results']] == [2, 4]
    for entry in report['results']:
        assert entry['pipeline_images_per_second'] > 0
        assert entry['peak_gflops'] == max(entry['matmul_gflops'], entry['convolution_gflops']) > 0
        for variant in ('configured', 'plain'):
            figures = entry[variant]
            assert figures['train_images_per_second'] > 0
            assert figures['inference_images_per_second'] > 0
            assert figures['peak_memory_bytes'] > 0
            for task in ('train', 'inference'):
                achieved = (figures[f'{task}_images_per_second']
                            * report[f'{task}_gflop_per_image'])
                assert figures[f'{task}_gflops'] == pytest.approx(achieved)
                assert figures[f'{task}_fraction_of_peak'] == pytest.approx(
                    achieved / entry['peak_gflops'])
        assert entry['train_speedup'] > 0 and entry['inference_speedup'] > 0
        assert entry['pipeline_headroom'] > 0
    assert 'ratio' in result.stderr and 'train img/s' in result.stderr


def test_bench_refuses_a_bad_batch_size_list_with_one_line(tmp_path):
    result = bench(tmp_path, '--bench_batch_sizes', '16,x')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "srez: error: flag --bench_batch_sizes=['16', 'x']: must be positive integers")
