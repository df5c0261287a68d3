"""srez files: where a path lies, whether a folder can be written, and writing a file so that a
crash never leaves half of it.

It imports only the standard library (and srez_errors), so srez_main checks its flags with it
before TensorFlow loads, and every mode that writes a file (grids, eval, infer) writes it the same
way.
"""
import os

from srez_errors import UsageError


def is_within(path, folder):
    """Whether `path` is `folder` or lies under it, after resolving symbolic links."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def write_atomically(path, contents):
    """Writes `path` so that it is always either the old file or the whole new one.

    contents: bytes, a str (written as UTF-8), or a function that writes the file at the path it
    is given. It is written beside `path` as a hidden `.stem.partial.ext` (same folder, so the
    rename is atomic; same extension, for writers such as ffmpeg that go by it), then renamed; a
    failed write leaves neither.
    """
    folder, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    partial = os.path.join(folder, f'.{stem}.partial{extension}')
    try:
        if callable(contents):
            contents(partial)
        else:
            with open(partial, 'wb') as file:
                file.write(contents.encode() if isinstance(contents, str) else contents)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def proc_bytes(path, key):
    """The value of `key` in a Linux /proc file of 'Key:   123 kB' lines (/proc/meminfo,
    /proc/self/status), in bytes; None where there is no such file or key."""
    try:
        with open(path) as file:
            for line in file:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_writable(flag, path):
    """Raises UsageError, naming --`flag`, unless the folder `path` exists or could be made, and
    can be written."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        problem = f'{existing} is a file'
    elif not os.access(existing, os.W_OK | os.X_OK, effective_ids=True):
        problem = 'permission denied'
    else:
        return
    raise UsageError(f'--{flag}: the folder {path} cannot be used ({problem}): choose another.')
