"""A lower NIC that filters in hardware, modelled on virtio-net as qemu implements it (§17).

One table of ``filter_slots`` exact entries holds the unicast list, then the multicast list;
a list that does not fit turns into "accept all" for that kind. An 802.1Q VLAN filter holds the
VIDs registered by VLAN devices (802.1ad is not filtered); it, like everything else, stops
applying while the device is promiscuous. Frames the NIC rejects never reach the host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from macvlan_sim.model.constants import ETH_P_8021Q
from macvlan_sim.model.mac import is_group

if TYPE_CHECKING:
    from macvlan_sim.model.devices import LowerDevice
    from macvlan_sim.model.host import Host


def unicast_overflow(nic: LowerDevice) -> bool:
    """The unicast list does not fit the filter slots: the NIC accepts every unicast frame
    (what makes a NIC lower "go promiscuous" for unicast without the PROMISC flag)."""
    return len(nic.uc_addresses()) > (nic.filter_slots or 0)


def nic_accepts(
    host: Host, nic: LowerDevice, dst: bytes, outer_tag: tuple[int, int] | None
) -> tuple[bool, str]:
    """qemu's ``receive_filter`` for a frame to ``dst`` whose outer tag is ``(tpid, tci)``
    (None: untagged): (accepted, why not)."""
    if nic.promisc:
        return True, ""
    tpid, tci = outer_tag or (0, 0)
    if tpid == ETH_P_8021Q and tci & 0x0FFF and (tci & 0x0FFF) not in host.registered_vids(nic):
        return False, f"VID {tci & 0x0FFF} not in its VLAN filter"
    slots = nic.filter_slots or 0
    uc = nic.uc_addresses()
    if is_group(dst):
        if dst == nic.broadcast or nic.allmulti_flag:
            return True, ""
        mc = nic.mc_addresses()
        room = max(slots - len(uc), 0) if len(uc) <= slots else 0
        if len(mc) > room or dst in mc:
            return True, ""
        return False, "group not in its multicast list"
    if unicast_overflow(nic) or dst == nic.mac or dst in uc:
        return True, ""
    return False, "unicast address not in its filter"
