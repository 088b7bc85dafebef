"""Capture I/O: stream records out of pcap / pcapng files and write pcap files.

The replay command reads with :func:`open_capture` (usually through :func:`ethernet_frames`)
and writes one :class:`CaptureWriter` per observation point. All file problems are
:class:`CaptureError`, whose ``str()`` is a complete one-line message for the user.
"""

from .reader import CaptureReader, PcapNgReader, PcapReader, ethernet_frames, open_capture
from .records import (
    LINKTYPE_ETHERNET,
    LINKTYPE_NAMES,
    MAX_CAPLEN,
    CaptureError,
    CaptureRecord,
    InterfaceInfo,
    Reason,
    linktype_name,
    linktype_reason,
)
from .writer import CaptureWriter, point_filename

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_NAMES",
    "MAX_CAPLEN",
    "CaptureError",
    "CaptureReader",
    "CaptureRecord",
    "CaptureWriter",
    "InterfaceInfo",
    "PcapNgReader",
    "PcapReader",
    "Reason",
    "ethernet_frames",
    "linktype_name",
    "linktype_reason",
    "open_capture",
    "point_filename",
]
