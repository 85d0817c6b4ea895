"""The ``directory`` and ``sftp`` destinations: a bundle as PEM files, locally or over SSH."""

from lemur.builtin.files.directory import DirectoryDestination, DirectoryOptions
from lemur.builtin.files.sftp import SFTPDestination, SFTPOptions

__all__ = ["DirectoryDestination", "DirectoryOptions", "SFTPDestination", "SFTPOptions"]
