"""Errors the book raises for bad input. Each message names the file and the problem."""

from __future__ import annotations


class ReprobookError(Exception):
    """Base class: an error a reader can fix (bad input, missing data, a failed notebook)."""


class ProfileError(ReprobookError):
    """A profile file is missing, unreadable, or malformed."""


class ParameterError(ReprobookError):
    """A parameter is unknown to the notebooks it is given to, or has the wrong type."""


class VenvError(ReprobookError):
    """``environments.yaml`` (the book's virtual environments) is missing or malformed."""


class ChapterError(ReprobookError):
    """A chapter is unknown, or its ``chapter.yaml`` is malformed."""


class DataError(ReprobookError):
    """A data set is missing, offline, truncated, or fails its checksum."""


class DataUnavailable(DataError):
    """A data set is in neither the cache nor the mirror, and could not be downloaded."""


class NotebookFailed(ReprobookError):
    """A notebook raised, or ran past its time budget."""
