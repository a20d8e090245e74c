"""Helpers for testing code that uses lighter: random images, transport conformance."""
