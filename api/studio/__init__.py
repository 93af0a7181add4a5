"""The studio: the web pages ``reelforge serve`` serves at ``/`` (edit, preview, export) and ``/farm`` (the render
workers), plain HTML, CSS and JavaScript checked in under ``static/`` (docs/studio.md says why)."""
