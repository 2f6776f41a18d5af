"""Benchmarks: measured and printed, never asserted in tests.

- ``python -m bench`` (= ``python -m bench.throughput``): a real worker on the embedded broker,
  end-to-end events/s and latency percentiles.
- ``python -m bench.hotpath``: the pure batch function alone, time per step.
"""
