"""Render workers: the farm's Celery workers on Redis, and the embedded default's local worker process."""
