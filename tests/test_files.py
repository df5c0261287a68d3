"""srez_files: a path lies in a folder when it does after links are resolved, and a file is
written whole or not at all."""
import os

import pytest

import srez_files


def test_is_within_resolves_links(tmp_path):
    (tmp_path / 'inside' / 'deeper').mkdir(parents=True)
    (tmp_path / 'outside').mkdir()
    os.symlink(tmp_path / 'outside', tmp_path / 'inside' / 'link')
    assert srez_files.is_within(tmp_path / 'inside', tmp_path / 'inside')
    assert srez_files.is_within(tmp_path / 'inside' / 'deeper' / 'new.png', tmp_path / 'inside')
    assert not srez_files.is_within(tmp_path / 'inside' / 'link' / 'a.png', tmp_path / 'inside')
    assert not srez_files.is_within(tmp_path / 'inside-not', tmp_path / 'inside')


def test_a_file_is_either_the_old_one_or_the_whole_new_one(tmp_path):
    path = tmp_path / 'eval.json'
    srez_files.write_atomically(str(path), '{"old": 1}')
    assert path.read_text() == '{"old": 1}'

    def fails_halfway(partial):
        with open(partial, 'w') as file:
            file.write('{"new": ')
        raise OSError(28, 'No space left on device')

    with pytest.raises(OSError):
        srez_files.write_atomically(str(path), fails_halfway)
    assert path.read_text() == '{"old": 1}' and os.listdir(tmp_path) == ['eval.json']
    # A writer that goes by the extension (ffmpeg) is given one.
    srez_files.write_atomically(str(tmp_path / 'demo1.mp4'),
                                lambda partial: open(partial, 'wb').write(partial.encode()))
    assert (tmp_path / 'demo1.mp4').read_text().endswith('.demo1.partial.mp4')
