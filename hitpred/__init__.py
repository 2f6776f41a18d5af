"""HitPred: hit-song prediction for brand-new releases.

Reading guide:
- ``schemas``      the events on every topic (release, enriched track, prediction, dead letter)
- ``settings``     all configuration, read from ``HITPRED_*`` once
- ``errors``       the root error and its subclasses
- ``features``     the canonical feature frame shared by training and serving; lyrics
                   embeddings, language, audio fetching and analysis
- ``enrichment``   a batch of releases -> enriched tracks (embeddings, estimates), Redis cache
- ``datasets``     one loader per public data set format, mapped onto release-event fields
- ``models``       one adapter per framework, safe native formats, no pickle
- ``registry``     versioned model bundles, champions per task, Redis cache
- ``champions``    which models a worker serves (one champion per task and feature set)
- ``routing``      per release and task, the champion whose inputs the release carries
- ``intake``       a batch's messages in: decode, validate, dead letters, pass-through
- ``scoring``      batch scoring of release events into predictions
- ``pipeline``     releases -> predictions in one pass (decode once, enrich, score)
- ``parallel``     scoring processes: a worker's batches scored on every core it has
- ``json_keys``    repeated JSON keys refused, cheaply for the common case
- ``stack``        the embedded development stack (tansu broker, Valkey)
- ``cli``          the ``hitpred`` command
This package holds no Faust code (Kafka clients only in ``stack`` and the CLI's publish/tail):
``streams`` (the Faust app) stays thin on top of it.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
