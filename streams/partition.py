"""Kafka's default partitioner for a whole batch of keys at once.

The same murmur2 hash as Kafka's Java client (and aiokafka's ``DefaultPartitioner``), so keys
land where any other producer would put them, computed with numpy for all keys of one length
together: aiokafka's pure-Python murmur2 cost ~1.6 us per key, 4% of a worker's time at
20,000 events/s. A key of None goes to a random partition, as with aiokafka.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

__all__ = ["murmur2_batch", "partitions_for"]

_SEED = np.uint32(0x9747B28C)
_M = np.uint32(0x5BD1E995)


def murmur2_batch(keys: Sequence[bytes]) -> np.ndarray:
    """``murmur2(key)`` of every key (uint32), as Kafka's ``Utils.murmur2``."""
    out = np.empty(len(keys), dtype=np.uint32)
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        by_length[len(key)].append(i)
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps, as the Java ints do
        for length, rows in by_length.items():
            data = np.frombuffer(b"".join(keys[i] for i in rows), dtype=np.uint8)
            data = data.reshape(len(rows), length).astype(np.uint32)
            h = np.full(len(rows), _SEED ^ np.uint32(length), dtype=np.uint32)
            for i4 in range(0, length - length % 4, 4):
                k = data[:, i4] | data[:, i4 + 1] << 8 | data[:, i4 + 2] << 16
                k |= data[:, i4 + 3] << 24
                k *= _M
                k ^= k >> 24
                k *= _M
                h *= _M
                h ^= k
            tail = length & ~3
            extra = length % 4
            if extra >= 3:
                h ^= data[:, tail + 2] << 16
            if extra >= 2:
                h ^= data[:, tail + 1] << 8
            if extra >= 1:
                h ^= data[:, tail]
                h *= _M
            h ^= h >> 13
            h *= _M
            h ^= h >> 15
            out[rows] = h
    return out


def partitions_for(keys: Sequence[bytes | None], partitions: Sequence[int]) -> list[int]:
    """The partition of each key among ``partitions`` (sorted ids), as Kafka's default
    partitioner chooses it."""
    keyed = [i for i, key in enumerate(keys) if key is not None]
    hashes = murmur2_batch([keys[i] for i in keyed])  # type: ignore[misc]
    chosen = ((hashes & np.uint32(0x7FFFFFFF)) % np.uint32(len(partitions))).tolist()
    out = [0] * len(keys)
    for i, index in zip(keyed, chosen, strict=True):
        out[i] = partitions[index]
    if len(keyed) < len(keys):
        for i, key in enumerate(keys):
            if key is None:
                out[i] = random.choice(partitions)
    return out
