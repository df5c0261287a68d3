"""The one exception type for what the user must fix or act on.

Every module raises UsageError for a mistake in a flag, a path or a file, or an event such as a
lost worker, with a message that says what to do; srez_main prints that message as one line. Any
other exception is a bug in srez and keeps its traceback. This module imports nothing, so
srez_main can use it before TensorFlow loads.
"""


class UsageError(ValueError):
    """A problem the user must fix or act on; its message is one line saying what to do."""
