"""macvlan-sim: a packet-level emulator of the Linux MACVLAN demultiplexer.

The dispatch core (``macvlan_sim.engine``) is sans-I/O: it takes frames and returns
deliveries. Capture files, sockets, the CLI and the kernel harness are thin layers around it.
"""

__version__ = "0.1.0"
