"""Directory entries with a visible state, a durable state, and the journal between them.

A create, mkdir, rename or delete changes the *visible* tree at once and is appended
to the *journal*. It reaches the *durable* tree only when committed:

* :meth:`Namespace.commit` (``fsync_dir(d)``) commits every journal entry that changed
  directory ``d``, together with the earlier entries those depend on (an entry depends
  on an earlier one that wrote the same path, an ancestor of a path it touches, or a
  path inside a directory it moves or removes). Committing a dependency-closed subset
  in journal order keeps the durable tree a state that replaying the journal can
  reach, so a later commit or a power loss never meets an impossible entry;
* :meth:`Namespace.commit_all` (``sync``) commits everything;
* :meth:`Namespace.crash` (power loss) keeps a prefix of the journal and rolls the
  rest back; the visible tree becomes a copy of the durable one.

Paths here are already normalised (``"a/b"``, the root is ``""``). Namespace errors are
Python's own: :class:`FileNotFoundError`, :class:`FileExistsError`,
:class:`IsADirectoryError`, :class:`NotADirectoryError`, or :class:`OSError` (``EINVAL``)
for moving a directory into itself. A file is an inode number; renames never copy data.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal


class Dir:
    """A directory: entry name -> sub-directory or file inode number."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[str, Dir | int] = {}

    def clone(self) -> Dir:
        copy = Dir()
        for name, node in self.entries.items():
            copy.entries[name] = node.clone() if isinstance(node, Dir) else node
        return copy


Node = Dir | int


def parent_of(path: str) -> str:
    """The parent directory of a normalised path (``""`` for top-level names)."""
    return path.rpartition("/")[0]


def _is_ancestor(ancestor: str, path: str) -> bool:
    return path.startswith(ancestor + "/") if ancestor else path != ""


def _err(cls: type[OSError], code: int, path: str) -> OSError:
    return cls(code, os.strerror(code), path)


@dataclass(frozen=True)
class DirOp:
    """One journal entry. ``ino`` is set for ``create``; ``dst`` for ``rename``."""

    kind: Literal["create", "mkdir", "rename", "delete"]
    path: str
    dst: str = ""
    ino: int = -1

    def writes(self) -> tuple[str, ...]:
        """Paths whose directory entry this operation changes."""
        return (self.path, self.dst) if self.kind == "rename" else (self.path,)

    def touched(self) -> tuple[str, ...]:
        """Written paths and the directories that must exist for the operation."""
        written = self.writes()
        return written + tuple(parent_of(p) for p in written)

    def depends_on(self, earlier: DirOp) -> bool:
        """Whether replaying this entry needs ``earlier`` to have been replayed first."""
        for p in earlier.writes():
            for q in self.touched():
                if q == p or _is_ancestor(p, q):
                    return True
            for q in self.writes():
                if _is_ancestor(q, p):
                    return True
        return False

    def describe(self) -> str:
        if self.kind == "rename":
            return f"rename {self.path} -> {self.dst}"
        return f"{self.kind} {self.path}"


def _walk(root: Dir, path: str) -> Node | None:
    node: Node = root
    if not path:
        return node
    for name in path.split("/"):
        if not isinstance(node, Dir):
            return None
        found = node.entries.get(name)
        if found is None:
            return None
        node = found
    return node


def _apply(root: Dir, op: DirOp) -> int | None:
    """Replay ``op`` on a tree; returns the inode a rename replaced, if any."""
    parent = _walk(root, parent_of(op.path))
    if not isinstance(parent, Dir):
        raise AssertionError(f"journal replay: no directory for {op.describe()}")
    name = op.path.rpartition("/")[2]
    if op.kind == "create":
        parent.entries[name] = op.ino
    elif op.kind == "mkdir":
        parent.entries[name] = Dir()
    elif op.kind == "delete":
        parent.entries.pop(name)
    else:
        node = parent.entries.pop(name)
        dst_parent = _walk(root, parent_of(op.dst))
        if not isinstance(dst_parent, Dir):
            raise AssertionError(f"journal replay: no directory for {op.describe()}")
        dst_name = op.dst.rpartition("/")[2]
        replaced = dst_parent.entries.get(dst_name)
        dst_parent.entries[dst_name] = node
        return replaced if isinstance(replaced, int) else None
    return None


def _files(root: Dir, prefix: str = "") -> Iterator[tuple[str, int]]:
    for name in sorted(root.entries):
        node = root.entries[name]
        path = f"{prefix}{name}"
        if isinstance(node, Dir):
            yield from _files(node, path + "/")
        else:
            yield path, node


class Namespace:
    """The visible tree, the durable tree and the journal of uncommitted operations."""

    def __init__(self) -> None:
        self.visible = Dir()
        self.durable = Dir()
        self.journal: list[DirOp] = []

    # -- queries --------------------------------------------------------------------------------

    def lookup(self, path: str) -> Node | None:
        """The visible node at ``path``, or ``None``."""
        return _walk(self.visible, path)

    def durable_lookup(self, path: str) -> Node | None:
        """The node a power loss with nothing pending would leave at ``path``, or ``None``."""
        return _walk(self.durable, path)

    def listdir(self, path: str) -> list[str]:
        node = self.lookup(path)
        if node is None:
            raise _err(FileNotFoundError, errno.ENOENT, path)
        if not isinstance(node, Dir):
            raise _err(NotADirectoryError, errno.ENOTDIR, path)
        return sorted(node.entries)

    def visible_files(self) -> list[tuple[str, int]]:
        """Every visible file as ``(path, ino)``, sorted by path."""
        return list(_files(self.visible))

    def durable_files(self) -> list[tuple[str, int]]:
        """Every durable file as ``(path, ino)``, sorted by path."""
        return list(_files(self.durable))

    def referenced_inodes(self) -> set[int]:
        """Inodes some tree or journal entry still names (their data must be kept)."""
        found = {ino for _, ino in _files(self.visible)}
        found.update(ino for _, ino in _files(self.durable))
        found.update(op.ino for op in self.journal if op.kind == "create")
        return found

    # -- visible operations ---------------------------------------------------------------------

    def _parent_dir(self, path: str) -> Dir:
        parent = self.lookup(parent_of(path))
        if parent is None:
            raise _err(FileNotFoundError, errno.ENOENT, parent_of(path))
        if not isinstance(parent, Dir):
            raise _err(NotADirectoryError, errno.ENOTDIR, parent_of(path))
        return parent

    def _log(self, op: DirOp) -> int | None:
        replaced = _apply(self.visible, op)
        self.journal.append(op)
        return replaced

    def create(self, path: str, ino: int) -> None:
        """Link a new, empty file ``ino`` at ``path`` (which must not exist)."""
        parent = self._parent_dir(path)
        if path.rpartition("/")[2] in parent.entries:
            raise _err(FileExistsError, errno.EEXIST, path)
        self._log(DirOp("create", path, ino=ino))

    def mkdir(self, path: str) -> None:
        """Create directory ``path``; its parent must exist and ``path`` must not."""
        parent = self._parent_dir(path)
        if path.rpartition("/")[2] in parent.entries:
            raise _err(FileExistsError, errno.EEXIST, path)
        self._log(DirOp("mkdir", path))

    def rename(self, src: str, dst: str) -> int | None:
        """Move ``src`` to ``dst``, replacing a file at ``dst``; returns the replaced inode.

        Directories move with their contents but never replace an existing entry.
        """
        node = self.lookup(src)
        if node is None or not src:
            raise _err(FileNotFoundError, errno.ENOENT, src)
        dst_parent = self._parent_dir(dst)
        if src == dst:
            return None
        target = dst_parent.entries.get(dst.rpartition("/")[2])
        if isinstance(target, Dir):
            raise _err(IsADirectoryError, errno.EISDIR, dst)
        if isinstance(node, Dir):
            if target is not None:
                raise _err(NotADirectoryError, errno.ENOTDIR, dst)
            if _is_ancestor(src, dst):
                raise _err(OSError, errno.EINVAL, dst)
        return self._log(DirOp("rename", src, dst=dst))

    def delete(self, path: str) -> int:
        """Unlink the file at ``path``; returns its inode."""
        node = self.lookup(path)
        if node is None:
            raise _err(FileNotFoundError, errno.ENOENT, path)
        if isinstance(node, Dir):
            raise _err(IsADirectoryError, errno.EISDIR, path)
        self._log(DirOp("delete", path))
        return node

    # -- durability -------------------------------------------------------------------------------

    def commit(self, directory: str) -> list[DirOp]:
        """``fsync_dir(directory)``: commit the entries that changed it, with their dependencies."""
        chosen: list[DirOp] = []
        keep: list[DirOp] = []
        for op in reversed(self.journal):
            if any(parent_of(p) == directory for p in op.writes()) or any(
                later.depends_on(op) for later in chosen
            ):
                chosen.append(op)
            else:
                keep.append(op)
        if not chosen:
            return []
        chosen.reverse()
        keep.reverse()
        for op in chosen:
            _apply(self.durable, op)
        self.journal = keep
        return chosen

    def commit_all(self) -> None:
        """Commit the whole journal (``sync``)."""
        for op in self.journal:
            _apply(self.durable, op)
        self.journal = []

    def crash(self, keep: int) -> tuple[list[DirOp], list[DirOp]]:
        """Power loss: the first ``keep`` journal entries reach the durable tree, the rest roll back.

        The visible tree becomes a copy of the durable one. Returns ``(kept, rolled_back)``.
        """
        kept, rolled_back = self.journal[:keep], self.journal[keep:]
        for op in kept:
            _apply(self.durable, op)
        self.journal = []
        self.visible = self.durable.clone()
        return kept, rolled_back
