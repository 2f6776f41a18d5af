"""The agents: ``enrich`` (releases -> enriched tracks) and ``score`` (-> predictions).

Both take batches (``stream.take_events``), run a pure batch function from
:mod:`hitpred.scoring` in the executor and publish the outcome in one batch per partition.
"""

from streams.agents.enrich import register_enrich
from streams.agents.score import register_score

__all__ = ["register_enrich", "register_score"]
