"""Rendering: JSON documents (:mod:`.documents`) and rich tables (:mod:`.tables`).

Both are built from a metrics state's results and a description of the inputs alone.
"""
