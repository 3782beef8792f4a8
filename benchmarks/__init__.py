"""Benchmarks for the personalization plugin (see README.md)."""
