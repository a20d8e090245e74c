"""Shared pytest configuration.

Fixture modules live beside the tests and are loaded here so that any test
file can use them: image fixtures, registry servers (plain, TLS, htpasswd,
token) and the fault-injecting proxy.
"""

from __future__ import annotations

pytest_plugins = ["tests.fixtures_images", "tests.fixtures_registry"]
