"""Typed exceptions and warnings.

Every error a user can trigger with bad input is a :class:`SpectoolError`
whose message names the file (or field) and the reason, so batch tools can
report it and carry on.
"""
from __future__ import annotations

from os import PathLike


class SpectoolError(Exception):
    """Base class of every error spectool raises on purpose.

    Parameters
    ----------
    reason
        What is wrong, in words a user can act on.
    path
        The file (or dataset, config field, URL) the error is about, if any.
    """

    def __init__(self, reason: str, path: str | PathLike | None = None) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class SpectoolWarning(UserWarning):
    """A soft problem: spectool repaired or skipped something and says so."""


class UnknownFormatError(SpectoolError):
    """No reader recognises the file."""


class CorruptFileError(SpectoolError):
    """The file exists but cannot be decoded (truncated FITS, bad gzip, ...)."""


class MissingDataError(SpectoolError):
    """A required HDU, column, key or file is missing."""


class InvalidSpectrumError(SpectoolError):
    """Values are unusable: NaN/inf flux, all-zero ivar, non-monotonic wavelength, ..."""


class CoverageError(InvalidSpectrumError):
    """The wavelength coverage cannot provide the requested range."""


class InvalidImageError(SpectoolError):
    """An image cutout has the wrong shape, dtype or values."""


class LabelError(SpectoolError):
    """A catalogue/label table is missing labels, has unknown classes or duplicate ids."""


class ConfigError(SpectoolError):
    """A configuration file or option is invalid (unknown key, wrong type, bad value)."""


class DatasetError(SpectoolError):
    """A dataset or store is missing, incomplete or inconsistent."""


class ModelError(SpectoolError):
    """Unknown model name, incompatible weights or model card."""


class DownloadError(SpectoolError):
    """A download failed after retries (offline, 404, checksum mismatch, ...)."""


class UnsafeInputError(SpectoolError):
    """Input was refused for safety (path traversal, non-https URL, untrusted pickle)."""


__all__ = [
    "SpectoolError",
    "SpectoolWarning",
    "UnknownFormatError",
    "CorruptFileError",
    "MissingDataError",
    "InvalidSpectrumError",
    "CoverageError",
    "InvalidImageError",
    "LabelError",
    "ConfigError",
    "DatasetError",
    "ModelError",
    "DownloadError",
    "UnsafeInputError",
]
