"""Experiments and bandits: sticky hash assignment over the variants of personalized placements,
exposures and conversions, honest statistics, adaptive policies and off-policy evaluation.

A decision package beside ``variants``: the two never import each other; the rendering edge
(``personalization.decisions``) composes them.
"""
