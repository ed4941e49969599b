"""Errors a user can cause. Each carries a message the user understands.

The window shows ``str(error)`` in a message box or banner; the command line prints it on one
line and exits non-zero. Anything that is *not* a SegStudioError is a bug.
"""


class SegStudioError(Exception):
    """Base class for every error caused by user input or the user's files."""


class ImageReadError(SegStudioError):
    """An image file cannot be read (missing, corrupt, unsupported, too large)."""


class MaskError(SegStudioError):
    """A mask file is unreadable, of the wrong size or holds invalid class values."""


class ProjectError(SegStudioError):
    """A project folder or its segstudio.json is missing, corrupt or of a newer schema."""


class ProjectLockedError(ProjectError):
    """Another segstudio holds the project's lock."""


class ModelFileError(SegStudioError):
    """A model/checkpoint file is unreadable, unsafe or does not match its config."""


class ConfigError(SegStudioError):
    """An option or setting has an invalid value."""
