"""Segments: a condition language compiled to an in-memory predicate and a database query."""
