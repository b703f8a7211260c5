"""Power loss: decide, with the run's seeded random source, what of the unsynced state survives.

One function, :func:`lose_power`, applies a :class:`~reflog.storage.sim.PowerLossMode`
to the device, the page cache and the namespace, and rebuilds the inodes from what is
durable afterwards. Randomness is drawn in a fixed order (page survival, journal prefix,
sizes, tearing, garbage), so the same seed and the same history give the same outcome.

* Unsynced page writes are the volatile device cache's pages (older) and the page
  cache's dirty pages (newer). ``CLEAN`` keeps none; ``PARTIAL`` and ``TORN`` keep each
  independently with ``survival_probability`` and land the survivors in a random order
  (so of two versions of one page either may win).
* ``TORN`` tears each survivor with ``torn_probability`` after FoundationDB: good-left,
  good-right or wholly bad at sector granularity, each bad sector holding the old bytes,
  zeros or garbage.
* A file whose size (or a truncation) was not yet durable gets, outside ``CLEAN``, its last
  visible size with ``size_probability``, else its durable size (the size metadata may have
  reached the journal without the data: the exposed tail reads zeros, or garbage per page in
  ``TORN``).
* Directory operations: ``CLEAN`` rolls back every uncommitted one; otherwise a random
  prefix of the journal survives.
"""

from __future__ import annotations

import random

from reflog.storage.sim._device import ZERO_PAGE, Device
from reflog.storage.sim._inode import Inode
from reflog.storage.sim._namespace import Namespace
from reflog.storage.sim._pagecache import PageCache
from reflog.storage.sim._policy import PAGE_SIZE, SECTOR_SIZE, SECTORS_PER_PAGE, PowerLossMode
from reflog.storage.sim._report import CrashReport, PageRef, SizeOutcome, TornPage

_FILLS = ("old", "zeros", "garbage")


def tear(rng: random.Random, old: bytes, new: bytes) -> tuple[bytes, tuple[int, ...], tuple[str, ...]]:
    """A torn version of writing ``new`` over ``old``: ``(result, bad sectors, fill of each bad sector)``."""
    shape = rng.choice(("good_left", "good_right", "all_bad"))
    split = rng.randint(1, SECTORS_PER_PAGE - 1)
    if shape == "good_left":
        bad = tuple(range(split, SECTORS_PER_PAGE))
    elif shape == "good_right":
        bad = tuple(range(split))
    else:
        bad = tuple(range(SECTORS_PER_PAGE))
    out = bytearray(new)
    fills: list[str] = []
    for sector in bad:
        fill = rng.choice(_FILLS)
        fills.append(fill)
        lo, hi = sector * SECTOR_SIZE, (sector + 1) * SECTOR_SIZE
        if fill == "old":
            out[lo:hi] = old[lo:hi]
        elif fill == "zeros":
            out[lo:hi] = bytes(SECTOR_SIZE)
        else:
            out[lo:hi] = rng.randbytes(SECTOR_SIZE)
    return bytes(out), bad, tuple(fills)


def lose_power(
    *,
    mode: PowerLossMode,
    survival_probability: float,
    torn_probability: float,
    size_probability: float,
    rng: random.Random,
    cache: PageCache,
    device: Device,
    namespace: Namespace,
    inodes: dict[int, Inode],
    handles_invalidated: int,
) -> tuple[CrashReport, dict[int, Inode]]:
    """Apply a power loss; returns the report and the inodes of the files that exist afterwards.

    The caller forgets the device data of every other inode.
    """
    names = {ino: path for path, ino in namespace.visible_files()}
    for path, ino in namespace.durable_files():
        names.setdefault(ino, path)

    def name(ino: int) -> str:
        return names.get(ino, f"#{ino}")

    writes = [(ino, page, data) for ino, page, data in device.unsynced_writes()]
    writes.extend((p.inode.ino, p.index, bytes(p.data)) for p in cache.writeback.unsynced())
    survivors: list[tuple[int, int, bytes]] = []
    lost: set[PageRef] = set()
    for ino, page, data in writes:
        if mode is not PowerLossMode.CLEAN and rng.random() < survival_probability:
            survivors.append((ino, page, data))
        else:
            lost.add(PageRef(name(ino), page))
    rng.shuffle(survivors)

    keep = 0 if mode is PowerLossMode.CLEAN else rng.randint(0, len(namespace.journal))
    kept_ops, rolled_back = namespace.crash(keep)

    sizes: dict[int, int] = {}
    outcomes: list[SizeOutcome] = []
    for ino in sorted(set(inodes) | set(device.inodes())):
        durable = device.durable_size(ino)
        visible = inodes[ino].size if ino in inodes else durable
        pending = visible != durable or device.has_pending_trim(ino)
        reached = pending and mode is not PowerLossMode.CLEAN and rng.random() < size_probability
        device.resolve_trim(ino, applied=reached)
        sizes[ino] = visible if reached else durable
        if visible != durable:
            outcomes.append(SizeOutcome(name(ino), durable, visible, sizes[ino]))

    torn: list[TornPage] = []
    for ino, page, data in survivors:
        landed = data
        if mode is PowerLossMode.TORN and rng.random() < torn_probability:
            old = device.peek_media(ino, page) or ZERO_PAGE
            landed, bad, fills = tear(rng, old, data)
            torn.append(TornPage(name(ino), page, bad, fills))
        device.land(ino, page, landed)

    garbage: list[PageRef] = []
    if mode is PowerLossMode.TORN:
        for ino, size in sizes.items():
            durable = device.durable_size(ino)
            for page in range(-(-durable // PAGE_SIZE), -(-size // PAGE_SIZE)):
                if device.peek_media(ino, page) is None and rng.random() < 0.5:
                    device.land(ino, page, rng.randbytes(PAGE_SIZE))
                    garbage.append(PageRef(name(ino), page))

    surviving: set[PageRef] = set()
    for ino, page, _ in survivors:
        ref = PageRef(name(ino), page)
        if page * PAGE_SIZE < sizes.get(ino, 0):
            surviving.add(ref)
        else:
            lost.add(ref)

    for ino, size in sizes.items():
        device.settle_size(ino, size)
    device.drop_volatile()
    cache.reset()

    new_inodes: dict[int, Inode] = {}
    for _, ino in namespace.durable_files():
        inode = Inode(ino, sizes.get(ino, device.durable_size(ino)))
        inode.linked = True
        new_inodes[ino] = inode

    report = CrashReport(
        mode=mode,
        lost_pages=tuple(sorted(lost)),
        surviving_pages=tuple(sorted(surviving)),
        torn_pages=tuple(sorted(torn)),
        garbage_pages=tuple(sorted(garbage)),
        sizes=tuple(sorted(outcomes)),
        rolled_back=tuple(op.describe() for op in rolled_back),
        kept_directory_ops=tuple(op.describe() for op in kept_ops),
        handles_invalidated=handles_invalidated,
    )
    return report, new_inodes
