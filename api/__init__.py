"""The hosted API, drop-in (FastAPI): tokens and credits, sessions, uploads, the chat agent, exports and
render jobs, over the engine."""
