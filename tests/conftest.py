"""Shared pytest configuration.

Fixture modules live beside the tests and are loaded here so that any test
file can use them: registry servers (plain, TLS, htpasswd, token) and the
fault-injecting proxy.
"""

from __future__ import annotations

import importlib.util

pytest_plugins = [
    name
    for name in ("tests.fixtures_images", "tests.fixtures_registry")
    if importlib.util.find_spec(name) is not None
]
