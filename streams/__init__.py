"""The Faust app of HitPred, kept thin: topics, agents and the glue to :mod:`hitpred`.

Reading guide:
- ``app``        :func:`create_app` builds the app from :class:`hitpred.settings.Settings`;
                 ``streams.app:app`` is what ``faust -A streams.app worker`` runs
- ``topics``     the four topics and their wire format (raw bytes in and out)
- ``runtime``    per-worker state started with the app: models, executor, publisher, metrics
- ``publish``    batched producing (one await per partition batch, never per event)
- ``agents``     ``enrich`` (validate + enrich -> enriched topic), ``score`` (-> predictions)

The work itself lives in :mod:`hitpred.scoring` (pure batch functions).
"""

__all__: list[str] = []
