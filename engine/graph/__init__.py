"""Timeline to FFmpeg filter graph: the picture, the sound, GIF palettes, and the compiled command.
"""
