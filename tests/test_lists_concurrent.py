"""Two processes adding to the same list at once lose nothing: the per-record lock at work."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from lighter import lists
from lighter.testing.random import write_random_image
from lighter.transports import TransportOptions, parse_image_name
from lighter.validate import check_image

PER_PROCESS = 20
ROUNDS = 3

ADDER = textwrap.dedent(
    """
    import os, sys, time
    from lighter import lists
    root, list_name, first, me = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    # a small barrier so that both processes really add at the same time
    open(os.path.join(root, f"ready-{list_name}-{me}"), "w").close()
    deadline = time.monotonic() + 60
    while len([n for n in os.listdir(root) if n.startswith(f"ready-{list_name}-")]) < 2:
        if time.monotonic() > deadline:
            sys.exit("the other adder never started")
        time.sleep(0.01)
    for i in range(first, first + int(sys.argv[5])):
        lists.add(list_name, f"store:img:{i}", root=root)
    """
)


def test_two_processes_adding_twenty_each_end_with_forty(tmp_path: Path) -> None:
    root = str(tmp_path)
    options = TransportOptions(store_root=root)
    digests = []
    for i in range(2 * PER_PROCESS):
        with parse_image_name(f"store:img:{i}").new_destination(options) as dest:
            digests.append(write_random_image(dest, seed=i, layer_sizes=(256,)).digest)
    assert len(set(digests)) == 2 * PER_PROCESS
    for round_no in range(ROUNDS):
        name = f"shared-{round_no}"
        lists.create(name, root=root)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", ADDER, root, name, str(first), str(n), str(PER_PROCESS)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for n, first in enumerate((0, PER_PROCESS))
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err
        lst = lists.load(name, root=root)
        assert sorted(str(m.digest) for m in lst.index.manifests) == sorted(str(d) for d in digests)
        assert set(lst.locations) == set(digests)
    pushed = lists.push("shared-0", "store:pushed", root=root)
    assert len(check_image("store:pushed", options).manifests) == 1 + 2 * PER_PROCESS
    assert pushed.digest == lists.load("shared-0", root=root).digest
