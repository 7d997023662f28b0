"""The one base class of every error meant for a person rather than a traceback."""


class XrayError(Exception):
    """A user-facing error: its message says what went wrong and where, in one line.

    The command line prints it to stderr and exits non-zero; notebooks show it as is.

    Example::

        try:
            splits = xraylib.load_splits()
        except xraylib.XrayError as err:  # DataError, ImageError, ConfigError, ...
            print(err)
    """


class ConfigError(XrayError):
    """An environment variable (``XRAY_PROFILE``, ``XRAY_SEED``) has a value xraylib cannot use;
    the message names the variable and the values it accepts.

    >>> import xraylib
    >>> xraylib.profile("huge")
    Traceback (most recent call last):
    xraylib.errors.ConfigError: XRAY_PROFILE='huge' is not a profile; use one of full, smoke
    """
