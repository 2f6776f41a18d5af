"""Features shared by training and serving.

``vector.py`` is the only place a feature is computed: the stream and the training job both
go through it, so a model sees the same columns in the same order at train and score time.
"""
