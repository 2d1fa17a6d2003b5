"""The one error type for what the user did wrong."""


class UserError(Exception):
    """Bad input from the user.

    The message says what was wrong, what was expected and what to do. The CLI
    prints it without a traceback and exits non-zero.
    """


class MobilekitWarning(UserWarning):
    """Something the user should know that does not stop the work."""
