"""A bounded load: threads sending requests one after the other on fresh connections (so the
kernel spreads them over Envoy's workers), each answer recorded as a Sample; and percentiles."""

from __future__ import annotations

import http.client
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .client import HTTP_TIMEOUT, request


@dataclass
class Sample:
    """One request of a Load: its `kind` (the caller's label), the answer (`status` None when no
    HTTP answer came; `error` says why), when it started (time.monotonic()) and how long it
    took, in seconds."""

    kind: str
    status: int | None
    body: str
    started: float
    elapsed: float
    error: str = ""


# What a Load sends: request number n -> (kind, path, headers).
RequestMaker = Callable[[int], tuple[str, str, list[tuple[str, str]]]]


class Load:
    """`threads` threads sending requests one after the other, each on a fresh connection (the
    kernel spreads connections over Envoy's workers), from `__enter__` until `stop()` or
    `__exit__`, and at most `max_seconds` or `max_requests` in all: a forgotten load ends."""

    def __init__(
        self,
        port: int,
        make: RequestMaker,
        threads: int = 4,
        max_seconds: float = 30.0,
        max_requests: int = 100_000,
        timeout: float = HTTP_TIMEOUT,
    ) -> None:
        self.port, self.make, self.timeout = port, make, timeout
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self._samples: list[Sample] = []
        self._threads = [
            threading.Thread(target=self._run, name=f"load-{n}", daemon=True)
            for n in range(threads)
        ]
        self._deadline = 0.0

    def __enter__(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending and wait for the requests under way (each bounded by `timeout`)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    @property
    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def count(self) -> int:
        with self._lock:
            return len(self._samples)

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            with self._lock:
                number = next(self._numbers)
            if number >= self.max_requests:
                return
            kind, path, headers = self.make(number)
            started = time.monotonic()
            try:
                response = request(self.port, path, headers=headers, timeout=self.timeout)
                sample = Sample(kind, response.status, response.text, started, 0.0)
            except (OSError, http.client.HTTPException) as error:
                sample = Sample(kind, None, "", started, 0.0, f"{type(error).__name__}: {error}")
            sample.elapsed = time.monotonic() - started
            with self._lock:
                self._samples.append(sample)


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` percentile (0.99: p99) of `values` (nearest rank); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
