"""srez files: where a path lies, and writing a file so that a crash never leaves half of it.

It imports only the standard library, so srez_main checks its flags with it before TensorFlow
loads, and every mode that writes a file (grids, eval, infer, demo) writes it the same way.
"""
import os


def is_within(path, folder):
    """Whether `path` is `folder` or lies under it, after resolving symbolic links."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def write_atomically(path, contents):
    """Writes `contents` (bytes, or str as UTF-8) to `path`: first to `path`.partial, then
    renamed, so `path` is either the old file or the whole new one."""
    partial = f'{path}.partial'
    with open(partial, 'wb') as file:
        file.write(contents.encode() if isinstance(contents, str) else contents)
    os.replace(partial, path)
