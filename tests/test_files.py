"""srez_files: a path lies in a folder when it does after links are resolved."""
import os

import srez_files


def test_is_within_resolves_links(tmp_path):
    (tmp_path / 'inside' / 'deeper').mkdir(parents=True)
    (tmp_path / 'outside').mkdir()
    os.symlink(tmp_path / 'outside', tmp_path / 'inside' / 'link')
    assert srez_files.is_within(tmp_path / 'inside', tmp_path / 'inside')
    assert srez_files.is_within(tmp_path / 'inside' / 'deeper' / 'new.png', tmp_path / 'inside')
    assert not srez_files.is_within(tmp_path / 'inside' / 'link' / 'a.png', tmp_path / 'inside')
    assert not srez_files.is_within(tmp_path / 'inside-not', tmp_path / 'inside')
