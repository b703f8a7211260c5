"""The fault-injection layer: oracles and fault primitives that act only through reflog's seams.

It grows with the fault harness (nemesis, history, checker, scenarios). For now it holds the
storage oracle: what a single log must still hold after a simulated power loss.
"""
