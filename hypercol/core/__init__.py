"""The primitives: color (sRGB <-> CIE Lab in TensorFlow), the guided filter, ab bins, input arrays,
precision (bf16 rewrite, the working canvas), metrics, and TensorFlow's quiet start.
"""
