"""srez paths: where a path lies, after links are resolved.

It imports only the standard library, so srez_main checks its flags with it before TensorFlow
loads, and srez_infer plans its outputs with the same rule.
"""
import os


def is_within(path, folder):
    """Whether `path` is `folder` or lies under it, after resolving symbolic links."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder
