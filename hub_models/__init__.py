"""How hub-format backbones are made: the offline EfficientNet-Lite and VGG16 exports.

Each module writes a TF2 SavedModel that ``tensorflow_hub.load`` reads like any
downloaded module: one signature, one image input, a dict of named activations.
"""
