"""Render workers (Celery on Redis, and the embedded local worker). Built in the render-farm issue."""
