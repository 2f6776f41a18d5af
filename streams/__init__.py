"""The Faust app of HitPred, kept thin: the worker's services and the glue to :mod:`hitpred`.

Reading guide:
- ``app``        :func:`create_app` builds the app from :class:`hitpred.settings.Settings`;
                 ``streams.app:app`` is what ``faust -A streams.app worker`` runs
- ``runtime``    per-worker state started with the app: models, executors, publisher, metrics
- ``batch``      the stages (``pipeline``, ``enrich``, ``score``): consume whole batches,
                 compute, produce, commit after the broker's acknowledgement
- ``publish``    batched producing (one await per partition batch, never per event)
- ``partition``  Kafka's murmur2 partitioner for a whole batch of keys (numpy)
- ``deadletter`` dead letters logged (a batch's first ten, then a count), escaped and cut

The work itself lives in :mod:`hitpred.pipeline` and :mod:`hitpred.scoring` (pure batch
functions).
"""

__all__: list[str] = []
