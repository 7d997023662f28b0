"""The one base class of every error meant for a person rather than a traceback."""


class XrayError(Exception):
    """A user-facing error: its message says what went wrong and where, in one line.

    The command line prints it to stderr and exits non-zero; notebooks show it as is.
    """
