"""The one error type users see: its message is printed as a single line by the CLI."""


class DuetError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 1
