"""The storage seam (see :mod:`reflog.storage._fs`) and its OS implementation.

The simulated implementation lives in :mod:`reflog.storage.sim`.
"""

from reflog.storage._fs import FileHandle, Filesystem
from reflog.storage._os import OsFileHandle, OsFilesystem

__all__ = ["FileHandle", "Filesystem", "OsFileHandle", "OsFilesystem"]
