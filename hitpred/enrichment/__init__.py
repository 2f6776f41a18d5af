"""Enrichment of validated releases: lyrics embeddings, audio analysis, audio embeddings.

- ``enricher.py``  :class:`Enricher`: a batch of releases -> enriched tracks or reasons
- ``cache.py``     :class:`EmbeddingCache`: embeddings and analyses in Redis by content hash
- ``stage.py``     :func:`build_enricher` (from settings) and the stage function the worker runs
"""

from hitpred.enrichment.cache import EmbeddingCache, content_hash
from hitpred.enrichment.enricher import Enricher, EnrichLimits

__all__ = ["EmbeddingCache", "EnrichLimits", "Enricher", "content_hash"]
