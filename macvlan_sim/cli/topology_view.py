"""A table of a built host: devices, modes, MACs, state, and the port's view of them."""

from __future__ import annotations

from rich.table import Table

from macvlan_sim.model.devices import LowerDevice, MacvlanDevice, VlanDevice
from macvlan_sim.model.host import Host
from macvlan_sim.model.mac import eth_hash, format_mac


def topology_table(host: Host) -> Table:
    table = Table(title="devices", show_lines=False)
    for col in ("device", "kind", "link", "mode / id", "MAC", "state", "flags", "notes"):
        table.add_column(col)
    for dev in host.devices.values():
        if dev.kind == "wire":
            continue
        table.add_row(
            dev.name,
            _kind(dev),
            dev.link.name if dev.link is not None else "",
            _mode(dev),
            format_mac(dev.mac),
            "UP" if dev.up else "down",
            ",".join(_flags(dev)),
            _notes(host, dev),
        )
    return table


def _kind(dev) -> str:
    if isinstance(dev, LowerDevice):
        return f"nic ({dev.filter_slots} slots)" if dev.has_unicast_filter else "veth"
    return dev.kind


def _mode(dev) -> str:
    if isinstance(dev, MacvlanDevice):
        return dev.mode.word
    if isinstance(dev, VlanDevice):
        return f"{dev.protocol_word} {dev.vid}"
    return ""


def _flags(dev) -> list[str]:
    flags = []
    if dev.promisc:
        flags.append(f"PROMISC({dev.promiscuity})")
    if dev.allmulti_flag:
        flags.append("ALLMULTI")
    if isinstance(dev, MacvlanDevice):
        flags += [f.name.lower() for f in type(dev.flags) if f and f in dev.flags]
    return flags


def _notes(host: Host, dev) -> str:
    notes = []
    if isinstance(dev, MacvlanDevice) and dev.port is not None:
        notes.append(f"bucket {eth_hash(dev.mac)}")
        sources = dev.port.source_list(dev)
        if sources:
            notes.append("sources " + " ".join(format_mac(m) for m in sources))
    if dev.rx_port is not None:
        port = dev.rx_port
        cutoff = port.bc_cutoff
        notes.append(f"port: {len(port.vlans)} macvlans, bcqueue {port.bc_queue_len_used}")
        if cutoff != 1:
            notes.append(f"bclim {cutoff}")
        if port.passthru:
            notes.append("passthru")
    groups = dev.mc.addresses()
    if groups:
        notes.append("joined " + " ".join(format_mac(g) for g in groups))
    del host
    return "; ".join(notes)
