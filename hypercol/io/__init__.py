"""Files: regular files only, atomic writes and their temporaries, image decoding, the Pillow filter,
video files.
"""
