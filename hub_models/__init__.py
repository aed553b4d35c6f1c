"""How hub-format backbones are made: the offline VGG16 export and tiny test backbones.

Each module writes a TF2 SavedModel that ``tensorflow_hub.load`` reads like any
downloaded module: one signature, one image input, a dict of named activations.
"""
