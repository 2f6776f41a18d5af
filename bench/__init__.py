"""Benchmarks: measured and printed, never asserted in tests.

- ``python -m bench`` (= ``python -m bench.throughput``): worker processes on the embedded
  broker against a plain aiokafka loop (:mod:`bench.plainloop`) with the same models, in the
  same run: end-to-end events/s, the ratio, peak RSS, latency percentiles read by a consumer.
- ``python -m bench.hotpath``: the pure batch function alone, time per step.
- ``python -m bench.score --rows 1000000``: ``hitpred score`` on a generated file, rows/s and
  peak memory (it streams in chunks).
- ``python -m bench.lyrics`` / ``python -m bench.audio``: the enrichment models.
"""
