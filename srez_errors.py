"""The one exception type for what the user must fix or act on, and the one line of any error.

Every module raises UsageError for a mistake in a flag, a path or a file, or an event such as a
lost worker, with a message that says what to do; srez_main prints that message as one line. Any
other exception is a bug in srez and keeps its traceback. This module imports nothing, so
srez_main can use it before TensorFlow loads.
"""


class UsageError(ValueError):
    """A problem the user must fix or act on; its message is one line saying what to do."""


def first_line(error):
    """'TypeName: the first line of its message', for an error of a library (TensorFlow's errors
    keep theirs in .message) that a one-line UsageError names as its reason."""
    message = (getattr(error, 'message', None) or str(error)).strip()
    return f'{type(error).__name__}: {message.splitlines()[0] if message else "no message"}'
