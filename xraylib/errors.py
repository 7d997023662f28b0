"""Every error meant for a person rather than a traceback: :class:`XrayError` and its kinds,
and :func:`first_line`, how a message quotes an exception of another library.

Each module raises the kind that fits; all of them live here, so one import reaches them::

    from xraylib.errors import DataError, XrayError
"""


def first_line(err: BaseException) -> str:
    r"""The first line of ``err``'s message, or its type's name when it has none: how an error
    for a person quotes the exception a library raised.

    >>> first_line(ValueError("bad value\nmore detail")), first_line(KeyError())
    ('bad value', 'KeyError')
    """
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class XrayError(Exception):
    """A user-facing error: its message says what went wrong and where, in one line.

    The command line prints it to stderr and exits non-zero; notebooks show it as is.

    Example::

        try:
            splits = data.load_splits()
        except errors.XrayError as err:  # DataError, ImageError, ConfigError, ...
            print(err)
    """


class ConfigError(XrayError):
    """An environment variable (``XRAY_PROFILE``, ``XRAY_SEED``) has a value xraylib cannot use;
    the message names the variable and the values it accepts.

    >>> from xraylib import config
    >>> config.profile("huge")
    Traceback (most recent call last):
    xraylib.errors.ConfigError: XRAY_PROFILE='huge' is not a profile; use one of full, smoke
    """


class TuningError(XrayError):
    """A hyper-parameter search cannot run or gave no result (bad role or address, no trial
    completed, the chief gone); the message says why, in one line.

    >>> from xraylib import cluster
    >>> cluster.set_role("boss")
    Traceback (most recent call last):
    xraylib.errors.TuningError: role must be one of single, chief, worker, not 'boss'
    """


class DataError(XrayError):
    """The data folder cannot be used; the message says what and where, in one line.

    >>> from xraylib import data
    >>> data.scan("no/such/folder")
    Traceback (most recent call last):
    xraylib.errors.DataError: no such folder: no/such/folder
    """


class ImageError(XrayError):
    """One image cannot be used; the message says which file and why, in one line.

    Attributes:
        path: the file, as given.
        reason: why it cannot be used, e.g. ``"no such file"``.

    >>> from xraylib import data
    >>> data.read_image("missing.jpeg", 96)
    Traceback (most recent call last):
    xraylib.errors.ImageError: missing.jpeg: no such file
    >>> ImageError("a: b.png", "empty file (0 bytes)").reason
    'empty file (0 bytes)'
    """

    def __init__(self, path: object, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


class ModelError(XrayError):
    """A model file cannot be used; the message says which and why, in one line."""


class DownloadError(XrayError):
    """A download, check or extraction failed; the message is one line that says what to do.

    The command line exits with status 1 for it (2 for every other :class:`XrayError`).
    """
