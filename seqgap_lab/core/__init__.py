"""The base layer: configs, device and seeding, caches, paths, seeds, statistics, timing, session.

It imports nothing else of the package; every other layer imports it.
"""
