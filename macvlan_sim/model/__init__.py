"""The configuration plane: devices, ports, filters and the rules for changing them.

Mirrors what ``ip link``/``ip maddr`` do to ``struct net_device`` and ``struct macvlan_port``.
Imports nothing from the layers above (datapath, io, ...).
"""
