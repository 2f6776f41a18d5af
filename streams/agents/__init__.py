"""The ``score`` agent (enriched tracks -> predictions) of the default engine.

It takes batches (``stream.take_events``), runs the pure batch function of
:mod:`hitpred.scoring` in the executor and publishes the outcome in one batch per partition.
Enrichment always runs as a batch stage in its own consumer group (:mod:`streams.batch`).
"""

from streams.agents.score import register_score

__all__ = ["register_score"]
