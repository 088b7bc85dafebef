"""The live frontend: an AF_PACKET ring in, TAP devices and the raw socket out.

Thin I/O around the sans-I/O engine: :mod:`ring` (TPACKET_V3 capture and sending on the real
interface), :mod:`tap` (one TAP per emulated device), :mod:`loop` (the epoll loop that moves
frames between them and the engine, and the run's statistics).
"""

from macvlan_sim.io.live.errors import LiveError
from macvlan_sim.io.live.loop import LiveEmulator, LiveStats

__all__ = ["LiveEmulator", "LiveError", "LiveStats"]
