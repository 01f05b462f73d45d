"""What every fuzzer here asks of a parser that reads bytes from a peer, on any input: it ends (a deadline),
raises nothing but its own named error, and keeps its memory bounded. Hypothesis makes the inputs; each
fuzzer also keeps a seed corpus, the inputs of attacks once found, run first every time."""

from __future__ import annotations

import os
import signal
import tracemalloc
from contextlib import contextmanager

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Bounded, so that all the fuzzers together take well under a minute in `make test`; no example database
# (it would write .hypothesis/ into the checkout). HYPOTHESIS_PROFILE=long runs many more, by hand.
settings.register_profile(
    "suite", max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=20_000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

SECONDS = 2.0  # no one input may take longer (a loop); each takes milliseconds, on a busy machine too
MEMORY = 4 << 20  # nor hold more than this at its peak (the inputs are at most a few tens of kilobytes)


@contextmanager
def bounded(seconds: float = SECONDS, memory: int = MEMORY):
    """Fail, instead of hanging or swelling, if the block loops or allocates more than `memory` bytes at once."""

    rang = []

    def ring(signum, frame):
        rang.append(signum)  # raised inside a garbage collector's callback, the error would be lost: noted too
        raise TimeoutError(f"still running after {seconds} s: a loop")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < memory, f"{peak} bytes at the peak: memory not bounded"
        assert not rang, f"still running after {seconds} s: a loop"
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A valid input, then a few bytes changed, inserted, deleted, or the end cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        byte = draw(st.integers(0, 255))
        if action == "set" and where < len(data):
            data[where] = byte
        elif action == "insert":
            data[where:where] = bytes([byte]) * draw(st.sampled_from([1, 1, 2, 64]))
        elif action == "delete":
            del data[where : where + draw(st.integers(1, 4))]
        else:
            del data[where:]
    return bytes(data)


def cuts(data: bytes, draw_sizes: list[int]) -> list[bytes]:
    """The data cut into pieces of the given sizes (as reads return them), the rest as a last piece."""
    pieces, start = [], 0
    for size in draw_sizes:
        if start >= len(data):
            break
        pieces.append(data[start : start + size])
        start += size
    return pieces + ([data[start:]] if start < len(data) else [])
