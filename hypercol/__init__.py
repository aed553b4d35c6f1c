"""hypercol: colorize grayscale photographs with hypercolumns of a frozen backbone.

>>> from hypercol import colorize
>>> rgb = colorize(gray)          # (H, W) uint8 -> (H, W, 3) uint8

The public names are imported on first use, so ``import hypercol.cli`` (the command)
starts without TensorFlow: the command sets up its logging and signal handling first.
"""

import importlib
import sys
import types

from hypercol import _quiet  # noqa: F401 -- before TensorFlow is imported anywhere: its log level

# Public name -> the module that defines it.
_PUBLIC = {
    "colorize": "hypercol.colorizer",
    "colorize_video": "hypercol.video",
    "Colorizer": "hypercol.colorizer",
    "ModelCard": "hypercol.colorizer",
    "ColorizeFilter": "hypercol.pil",
    "hypercolumns": "hypercol.hypercolumns",
    "list_backbones": "hypercol.backbones",
    "load_backbone": "hypercol.backbones",
    "register_backbone": "hypercol.backbones",
    "BackboneSpec": "hypercol.backbones",
    "Tap": "hypercol.backbones",
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


class _Package(types.ModuleType):
    """Keeps ``hypercol.hypercolumns`` the function when the submodule of the same name is imported."""

    def __setattr__(self, name: str, value) -> None:
        if name == "hypercolumns" and isinstance(value, types.ModuleType):
            value = value.hypercolumns
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
