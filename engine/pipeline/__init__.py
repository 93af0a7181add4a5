"""The render pipeline: render() (a draft in, a checked file out), the pictures it prepares, GIF size targets.
"""
