"""Encoders: which H.264 encoder and decoder this machine uses, NVML discovery, every codec's options.
"""
