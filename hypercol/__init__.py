"""hypercol: colorize grayscale photographs with hypercolumns of a frozen backbone.

>>> from hypercol import colorize
>>> rgb = colorize(gray)          # (H, W) uint8 -> (H, W, 3) uint8

The public names are imported on first use, so ``import hypercol.cli`` (the command)
starts without TensorFlow: the command sets up its logging and signal handling first.
Importing hypercol changes nothing in the process; the first of its modules that needs
TensorFlow imports it without its start-up lines (:mod:`hypercol.core.quiet`), unless
TensorFlow is already loaded or ``TF_CPP_MIN_LOG_LEVEL`` is the user's own.
"""

import importlib

# Public name -> the module that defines it.
_PUBLIC = {
    "colorize": "hypercol.inference.colorizer",
    "colorize_video": "hypercol.inference.video",
    "Colorizer": "hypercol.inference.colorizer",
    "ModelCard": "hypercol.models.card",
    "ColorizeFilter": "hypercol.io.pil",
    "hypercolumns": "hypercol.models.hypercolumns",
    "list_backbones": "hypercol.models.backbones",
    "load_backbone": "hypercol.models.backbones",
    "register_backbone": "hypercol.models.backbones",
    "BackboneSpec": "hypercol.models.backbones",
    "Tap": "hypercol.models.backbones",
}
__all__ = list(_PUBLIC)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _PUBLIC:
        msg = f"module 'hypercol' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
