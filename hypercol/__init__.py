"""hypercol: colorize grayscale photographs with hypercolumns of a frozen backbone.

>>> from hypercol import colorize
>>> rgb = colorize(gray)          # (H, W) uint8 -> (H, W, 3) uint8
"""

from hypercol.backbones import BackboneSpec, Tap, list_backbones, load_backbone, register_backbone
from hypercol.colorizer import Colorizer, ModelCard, colorize
from hypercol.hypercolumns import hypercolumns
from hypercol.pil import ColorizeFilter

__all__ = [
    "colorize",
    "Colorizer",
    "ModelCard",
    "ColorizeFilter",
    "hypercolumns",
    "list_backbones",
    "load_backbone",
    "register_backbone",
    "BackboneSpec",
    "Tap",
]
__version__ = "0.1.0"
