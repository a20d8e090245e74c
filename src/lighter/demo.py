"""``make demo``: the main job, end to end, on the embedded local store.

Builds two small single-platform images (generated, so nothing is
downloaded), stores them in a throw-away local store, assembles a manifest
list from them, pushes the list to an OCI layout, and inspects the result —
each step through the ``lighter`` command line, as a user would type it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from lighter.testing.random import write_random_image
from lighter.transports import TransportOptions, parse_image_name

PLATFORMS = ("linux/amd64", "linux/arm64")


def _run(*args: str, env: dict[str, str]) -> str:
    print(f"$ lighter {shlex.join(args)}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "lighter.cli.main", *args], env=env, capture_output=True, text=True, check=False
    )
    if result.stdout:
        print(result.stdout.rstrip())
    if result.returncode != 0:
        print(result.stderr.rstrip(), file=sys.stderr)
        raise SystemExit(f"demo step failed: lighter {shlex.join(args)}")
    return result.stdout


def main() -> None:
    out = Path(os.environ.get("LIGHTER_DEMO_DIR", "demo-out")).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    root = out / "store"
    env = {**os.environ, "LIGHTER_ROOT": str(root)}
    options = TransportOptions(store_root=str(root))
    for seed, platform in enumerate(PLATFORMS):
        name = f"store:demo/app:{platform.split('/')[1]}"
        print(f"# build a {platform} image into {name}")
        with parse_image_name(name).new_destination(options) as dest:
            write_random_image(dest, layer_sizes=(64 * 1024, 16 * 1024), platform=platform, seed=seed)
    _run("images", env=env)
    _run("manifest", "create", "demo/app:multi", env=env)
    for platform in PLATFORMS:
        _run("manifest", "add", "demo/app:multi", f"store:demo/app:{platform.split('/')[1]}", env=env)
    _run("manifest", "inspect", "demo/app:multi", env=env)
    layout = out / "layout"
    _run("manifest", "push", "--all", "demo/app:multi", f"oci:{layout}:multi", env=env)
    _run("inspect", "--all-platforms", f"oci:{layout}:multi", env=env)
    _run("inspect", f"oci:{layout}:multi", env=env)
    print(f"# the OCI layout is in {layout}; the local store in {root}")


if __name__ == "__main__":
    main()
