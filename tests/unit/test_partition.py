"""The batched murmur2 partitioner picks exactly the partition Kafka's default partitioner
(aiokafka's pure-Python one, a port of the Java client's) picks."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.partition import murmur2_batch, partitions_for


@settings(max_examples=300, deadline=None, derandomize=True)
@given(keys=st.lists(st.binary(max_size=40), max_size=60))
def test_murmur2_of_a_batch_is_kafkas(keys: list[bytes]) -> None:
    assert murmur2_batch(keys).tolist() == [murmur2(k) for k in keys]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    keys=st.lists(st.text(max_size=30).map(str.encode), max_size=50),
    count=st.integers(1, 64),
)
def test_each_key_goes_where_the_default_partitioner_sends_it(
    keys: list[bytes], count: int
) -> None:
    partitions = list(range(count))
    expected = [DefaultPartitioner()(k, partitions, partitions) for k in keys]
    assert partitions_for(keys, partitions) == expected


def test_known_values_and_keys_without_a_key() -> None:
    # Kafka's own test vectors (org.apache.kafka.common.utils.UtilsTest, as signed ints).
    vectors = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    hashes = murmur2_batch(list(vectors)).tolist()
    assert hashes == [v & 0xFFFFFFFF for v in vectors.values()]
    chosen = partitions_for([None, b"t1", None], [0, 1, 2, 3])
    assert chosen[1] == DefaultPartitioner()(b"t1", [0, 1, 2, 3], [0, 1, 2, 3])
    assert all(p in (0, 1, 2, 3) for p in chosen)
    assert partitions_for([], [0, 1]) == []
