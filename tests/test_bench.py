"""srez_bench through the CLI: `--run bench` prints one JSON report on stdout and a table."""
import json
import os

import pytest
from helpers import TINY_MODEL, run_srez, write_face_images

TINY = TINY_MODEL + ['--test_vectors', '2', '--batch_size', '2', '--bench_repeats', '1']


@pytest.mark.slow
def test_bench_reports_the_batch_size_and_both_variants_as_json_and_a_table(tmp_path):
    write_face_images(tmp_path / 'faces', 8)
    result = run_srez(tmp_path, '--run', 'bench', *TINY, '--dataset', 'faces', '--bench_batches',
                      '1', '--bench_batch_sizes', '3', '--precision', 'bfloat16')
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path) == ['faces']  # Bench writes no grids and no checkpoints.
    report = json.loads(result.stdout)  # stdout holds the JSON alone.
    assert report['device'] and report['tensorflow']
    assert report['configured'] == {'precision': 'bfloat16', 'xla': False}
    assert report['model']['gene_units'] == [8, 8, 8]
    # Counted from the layers (tests/test_model.py checks the count by hand).
    assert 0 < report['inference_gflop_per_image'] < report['train_gflop_per_image'] < 0.1
    assert [r['batch_size'] for r in report['results']] == [3]
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
        # The pipeline again with every input damaged (srez_damage), and its line.
        damaged = entry['damaged_pipeline_images_per_second']
        assert damaged > 0
        assert f'{"damaged input":<16} {damaged:.1f} img/s' in result.stderr
    # And the photo through --faces: its parts, and the line that says them.
    photo = report['photo']
    assert (photo['width'], photo['height'], photo['faces']) == (640, 480, 10)
    assert photo['photos_per_second'] == pytest.approx(1 / sum(
        photo[f'{part}_seconds'] for part in ('detection', 'faces', 'background')))
    assert (f'A 640x480 photo of 10 faces ({photo["faces_found"]} found): '
            f'{photo["photos_per_second"]:.2f} photos/s') in result.stderr
    # And videos through --run infer's path, end to end.
    video = report['video']
    assert set(video) == {'256x192', '640x480'} and all(rate > 0 for rate in video.values())
    assert (f'Videos of faces, read, upscaled and written: 256x192 {video["256x192"]:.1f} '
            f'frames/s, 640x480 {video["640x480"]:.1f} frames/s.') in result.stderr


def test_bench_refuses_a_bad_batch_size_list_with_one_line(tmp_path):
    result = run_srez(tmp_path, '--run', 'bench', '--bench_batch_sizes', '16,x')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "srez: error: flag --bench_batch_sizes=['16', 'x']: must be positive integers")
