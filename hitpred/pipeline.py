"""Releases in, predictions out, in one pass: the hot path of a worker that runs both stages.

A worker with both roles (``HITPRED_ROLES=enrich,score``, the default) does not send its
releases through the internal enriched topic: every message is decoded and validated once,
enriched in memory (embeddings and audio analysis where the release brings lyrics or audio; a
pass-through otherwise) and scored in the same batch, so there is no second serialisation and
no second full decode. Split deployments (``HITPRED_ROLES=enrich`` on some workers,
``score`` on others) still meet on the enriched topic, with the same outputs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from hitpred.enrichment.enricher import Enricher
from hitpred.errors import EnrichmentError, NeedsEnrichment
from hitpred.intake import BatchResult, RawMessage, dead_letter, enrich_batch, validate_batch
from hitpred.schemas import EnrichedTrack
from hitpred.scoring import Scorer, add_shadow

__all__ = ["process_releases"]


def process_releases(
    scorer: Scorer,
    enricher: Enricher | None,
    messages: Sequence[RawMessage],
    *,
    require_key: bool = True,
    shadow: Scorer | None = None,
    enrich_required: bool = False,
) -> BatchResult:
    """``hitpred.releases.v1`` messages -> serialized predictions + dead letters.

    Dead letters carry the stage that refused the event: ``decode``/``validate`` for bad
    events, ``enrich`` for lyrics or audio that could not be used, ``score`` for a model
    failure. Without an enricher, releases are scored from what they carry.
    ``require_key=False`` accepts messages without a key (one-off HTTP predictions); a key
    that is given must still equal the ``track_id``. With ``shadow`` (the challengers' set),
    the same tracks are scored by it too, into ``shadow_records``. ``enrich_required`` (a
    scoring process, which has no enricher) raises :class:`NeedsEnrichment` for a batch with
    lyrics or audio instead of scoring it without them.
    """
    started = time.perf_counter()
    valid, dead = validate_batch(messages, require_key=require_key)
    if enricher is None and enrich_required and any(e.lyrics or e.audio_ref for _, e in valid):
        raise NeedsEnrichment("releases with lyrics or audio need the worker's enricher")
    decoded = time.perf_counter()
    # Releases with neither lyrics nor audio are passed on as they are (the common case on a
    # re-scoring run); only the others go through the enricher.
    heavy = (
        [i for i, (_, e) in enumerate(valid) if e.lyrics or e.audio_ref]
        if enricher is not None
        else []
    )
    tracks: list[tuple[RawMessage, EnrichedTrack] | None] = [
        (m, t) for (m, _), t in zip(valid, enrich_batch(valid), strict=True)
    ]
    if enricher is not None and heavy:
        outcomes = enricher.enrich([valid[i][1] for i in heavy])
        for i, outcome in zip(heavy, outcomes, strict=True):
            message, event = valid[i]
            if isinstance(outcome, EnrichmentError):
                dead.append(dead_letter(message, "enrich", outcome, event.event_id))
                tracks[i] = None
            else:
                tracks[i] = (message, outcome)
    enriched = time.perf_counter()
    kept = [t for t in tracks if t is not None]
    result = scorer.score_tracks(kept)
    add_shadow(result, shadow, kept)
    result.dead_letters[:0] = dead
    result.timings_s["decode"] = decoded - started
    result.timings_s["enrich"] = enriched - decoded
    return result
