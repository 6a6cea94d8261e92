"""Recursive self-training experiments (GPT-2, filtered vs unfiltered mixes). Not built yet.

Layering: `collapse_eval` may import `detectors` and `hygiene`; neither imports it.
"""
