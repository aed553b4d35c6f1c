"""Training a head on a frozen backbone.

Modules, each the one owner of its concept (lower ones never import higher ones):

- ``config``: :class:`TrainConfig`, the settings of a run (no TensorFlow), and the card's ``training`` field
- ``sets``: the photo-set manifest format (read, checked, written)
- ``data``: the :class:`TrainingData` protocol and the one tf.data pipeline
- ``prior``: the one color-prior estimate, fed by either data source
- ``photos``: finding and reading photos, the validation split, :class:`PhotoData`
- ``losses``: the losses and the objective of each head type
- ``cache``: the feature cache (building it) and :class:`CachedData` (training from it)
- ``step``: the training step, validation loss, optimizer and distribution strategy
- ``loop``: the training loop and its callbacks
- ``export``: the weights and card, written atomically
- ``train``: :func:`train`, the entry that joins them
"""
