"""The hosted API, drop-in (FastAPI). Built in the API issue; the engine stands alone until then."""
