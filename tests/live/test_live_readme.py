"""The README's live demo runs as written: two "containers" exchange a datagram through the
emulator. It runs inside a namespace of ours, with the demo's namespace names made unique and
``macvlan-sim`` pointing at this checkout; every namespace is deleted even if it fails."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from macvlan_sim.verify.kernel.netns import PREFIX, private_netns, remove_netns, unique_name
from tests.conftest import REPO

pytestmark = pytest.mark.kernel

README = (REPO / "README.md").read_text()


def _demo() -> str:
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", README, re.S) if "live --iface" in b]
    assert len(blocks) == 1, "the README has one live demo"
    return blocks[0]


def test_readme_live_demo(tmp_path) -> None:
    script = _demo()
    names = {old: unique_name() for old in ("demo-net", "demo-c1", "demo-c2")}
    for old, new in names.items():
        script = script.replace(old, new)
    cli = f"{sys.executable} -m macvlan_sim.cli.main"
    script = script.replace("macvlan-sim live", cli + " live")
    (tmp_path / "demo.sh").write_text("set -e\n" + script)
    try:
        with private_netns() as host:
            done = subprocess.run(
                ["ip", "netns", "exec", host, "bash", str(tmp_path / "demo.sh")],
                cwd=tmp_path,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO)},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
    finally:
        for name in names.values():
            assert name.startswith(PREFIX)
            remove_netns(name)
    assert done.returncode == 0, done.stderr + (tmp_path / "live.log").read_text()
    assert "c2 got (b'hello through the emulator', ('10.0.0.1'," in done.stdout
    assert re.search(r"delivered into TAP c2eth\s*│\s*[1-9]", done.stdout), done.stdout
