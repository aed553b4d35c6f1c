"""Imported just before TensorFlow by every hypercol module that uses it.

So a library user's ``from hypercol import colorize`` (or any submodule imported first)
hides TensorFlow's start-up lines the way the command does; see :mod:`hypercol.core.quiet`.
"""

from hypercol.core.quiet import import_tensorflow_quietly

import_tensorflow_quietly()
