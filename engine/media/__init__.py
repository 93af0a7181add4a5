"""Reading and making media: probing files, stills, motion plans, text pictures, fonts, the music bed.
"""
