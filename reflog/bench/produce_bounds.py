"""What bounds the produce section's two targets: the notes :func:`bounds_notes` adds (PERF-12).

From one run's figures and CPU accounting (microseconds per record of the broker process and of
the client) it says what caps the 100-byte headline and the 1 MiB end-to-end figure, quoting
where the broker's CPU goes (profiles of the reference machine: specs/performance.md,
"Measured on the reference machine").
"""

from __future__ import annotations

from typing import Final

from reflog.bench.results import Section
from reflog.bench.settings import GiB, KiB, MiB

#: Where the broker's CPU goes on the produce path, as profiled on the reference machine
#: (specs/performance.md says how). Quoted by :func:`bounds_notes`.
PROFILE_1KIB: Final = (
    "perf and py-spy of the broker with 1 KiB records in 1 MiB batches: pure-Python record "
    "validation (validate_batch, ~0.85 us a record) ~28 % of its CPU; user-space memmove of each "
    "request ~23 % (about six copies of every byte: the framing buffer and two slices of it in "
    "reflog/net/framing.py, kafka-python's header decode and records field, the offset/epoch stamp "
    "in Log.append_as_leader, bytearray then bytes); kernel copies (recv, pwrite) ~6 %; CRC-32C "
    "computed three times per batch when profiled (the validator twice, then the log; once since the one "
    "append pipeline of reflog/log/append.py) ~3 %; the rest trio's event loop and the protocol layer"
)
PROFILE_100B: Final = (
    "py-spy of the broker with 100-byte records: validate_batch is ~64 % of its CPU (each record's "
    "six fields walked in Python, ~0.85 us a record), the rest is the request path of the next note"
)
#: Loopback TCP, read()+sendall() in 64 KiB steps, MiB/s on the reference machine (specs/performance.md).
LOOPBACK_COPY_MIB_S: Final = 1_519


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is not positive (CPU ticks are 10 ms)."""
    return numerator / denominator if denominator > 0 else float("nan")


def bounds_notes(section: Section, *, headline_key: str, raw_write_target: float) -> tuple[str, ...]:
    """What bounds the headline (``headline_key``) and the 1 MiB figures, with this run's CPU accounting.

    ``raw_write_target`` is the 1 MiB figure's target ratio over the raw write loop. Raises
    ``KeyError`` when the section lacks the headline, ``e2e_1mib`` or ``raw_write_1mib``.
    """
    notes = []
    headline = section.figure(headline_key)
    broker_us = float(headline.detail.get("broker CPU us/record", "nan"))
    client_us = float(headline.detail.get("client CPU us/record", "nan"))
    verdict = "met" if headline.target_met else "MISSED"
    notes.append(
        f"Headline {verdict}: {headline.value:,.0f} records/s of 100-byte records = "
        f"{headline.ratio or float('nan'):.2f} x 300,000. CPU per record: broker {broker_us:.2f} us, "
        f"client {client_us:.2f} us; the two processes share 2 vCPUs, so together they cap it near "
        f"{_ratio(2e6, broker_us + client_us):,.0f} records/s (less what other processes take). "
        f"{PROFILE_100B}."
    )
    e2e, raw = section.figure("e2e_1mib"), section.figure("raw_write_1mib")
    e2e_us = float(e2e.detail.get("broker CPU us/record", "nan"))
    verdict = "met" if e2e.target_met else "MISSED"
    notes.append(
        f"1 MiB batches {verdict}: {e2e.value:,.0f} MiB/s end to end = {e2e.ratio or float('nan'):.2f} of "
        f"the raw write loop ({raw.value:,.0f} MiB/s). The broker's single event-loop thread used "
        f"{e2e_us:.2f} us of CPU per 1 KiB record ({e2e_us * GiB / KiB / 1e6:.1f} s per GiB), which "
        "alone caps it near "
        f"{_ratio(KiB / MiB * 1e6, e2e_us):,.0f} MiB/s. {PROFILE_1KIB}."
        + (
            f" Even a broker that cost nothing could not reach 0.8: loopback TCP alone moves about "
            f"{LOOPBACK_COPY_MIB_S:,} MiB/s here (performance.md B3), "
            f"{LOOPBACK_COPY_MIB_S / raw.value:.2f} of this run's raw write loop."
            if raw_write_target * raw.value > LOOPBACK_COPY_MIB_S
            else ""
        )
    )
    return tuple(notes)


__all__ = ["LOOPBACK_COPY_MIB_S", "PROFILE_100B", "PROFILE_1KIB", "bounds_notes"]
