"""The draft and what it means: canvas, placement, the resolved timeline, its pieces, the summary line.

Pure: no files, no processes.
"""
