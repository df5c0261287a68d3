"""srez_bench through the CLI: `--run bench` prints one JSON report on stdout and a table."""
import json
import os

from conftest import run_srez

TINY = ['--dataset', 'synthetic', '--gene_units', '8,8,8', '--disc_units', '8,8',
        '--test_vectors', '2', '--batch_size', '2']


def test_bench_reports_each_batch_size_and_both_variants_as_json_and_a_table(tmp_path):
    result = run_srez(tmp_path, '--run', 'bench', *TINY, '--bench_batches', '1',
                      '--bench_batch_sizes', '2,4', '--precision', 'bfloat16', '--noxla')
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path) == []  # Bench writes no grids and no checkpoints.
    report = json.loads(result.stdout)  # stdout holds the JSON alone.
    assert report['device'] and report['tensorflow']
    assert report['configured'] == {'precision': 'bfloat16', 'xla': False}
    assert report['model']['gene_units'] == [8, 8, 8]
    # Counted from the layers (tests/test_model.py checks the count by hand).
    assert 0 < report['inference_gflop_per_image'] < report['train_gflop_per_image'] < 0.1
    assert [r['batch_size'] for r in report['results']] == [2, 4]
    rows = [line.split() for line in result.stderr.splitlines()]
    for entry in report['results']:
        assert entry['peak_gflops'] == max(entry['matmul_gflops'], entry['convolution_gflops']) > 0
        for variant, label in (('configured', ['bfloat16']), ('plain', ['float32', '(plain)'])):
            figures = entry[variant]
            assert figures['train_images_per_second'] > 0 and figures['peak_memory_bytes'] > 0
            # The table's row says what the JSON says.
            row = [str(entry['batch_size']), *label,
                   f'{figures["train_images_per_second"]:.1f}',
                   f'{figures["inference_images_per_second"]:.1f}',
                   f'{entry["pipeline_images_per_second"]:.1f}']
            assert any(line[:len(row)] == row for line in rows), (row, result.stderr)


def test_without_the_adversarial_term_a_training_step_costs_the_generator_alone(srez_cli,
                                                                                capsys):
    reports = {}
    for factor in ('0.9', '1'):
        assert srez_cli('--run', 'bench', *TINY, '--bench_batches', '1', '--gene_l1_factor',
                        factor, '--noxla') == 0
        reports[factor] = json.loads(capsys.readouterr().out)
    gan, regression = reports['0.9'], reports['1']
    assert regression['inference_gflop_per_image'] == gan['inference_gflop_per_image']
    # Backward costs about twice forward: the step is 3x the generator's inference.
    assert regression['train_gflop_per_image'] == 3 * regression['inference_gflop_per_image']
    assert gan['train_gflop_per_image'] > regression['train_gflop_per_image']


def test_bench_refuses_a_bad_batch_size_list_with_one_line(tmp_path):
    result = run_srez(tmp_path, '--run', 'bench', '--bench_batch_sizes', '16,x')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "srez: error: flag --bench_batch_sizes=['16', 'x']: must be positive integers")
