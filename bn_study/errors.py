"""The one exception type for user mistakes: the CLI prints it on one line and exits 2."""


class UserError(Exception):
    """A mistake in a config, an experiment file, a command-line value or a data file.

    The message names the file or key, what is wrong and what would be right.
    """
