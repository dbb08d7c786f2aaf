"""The one exception type for user errors (bad config, data or arguments)."""


class CmxError(Exception):
    """A user error: the CLI prints its message on one line and exits with code 2.

    The message should name the problem and its place: a file:line, a dotted
    config key, or a data row.
    """
