"""Colorizing: the network pass (canvas, backbone, head, chroma), the chroma sources (automatic, hints and
reference photos), full-resolution composition, the Colorizer, video.
"""
