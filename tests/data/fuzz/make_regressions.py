"""Rebuild the hand-made hostile captures of this folder.

Run: ``python tests/data/fuzz/make_regressions.py``.

Each one broke ``replay`` before issue 8 (see README.md here). Captures found by the fuzzers
are added as they are found, byte for byte, not through this script.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.capture.builders import ETH_FRAME, epb, idb, pcap_header, pcap_record, shb  # noqa: E402

FILES = {
    "ts-pcap-usec-sec-max-frac-1e6.pcap": pcap_header()
    + pcap_record(ETH_FRAME, sec=0xFFFFFFFF, frac=1_000_000),
    "ts-epb-huge.pcapng": shb() + idb() + epb(ETH_FRAME, ticks=(1 << 64) - 1),
    "ts-tsoffset-negative.pcapng": shb() + idb(tsoffset=-(1 << 40)) + epb(ETH_FRAME, ticks=5),
    "ts-tsoffset-huge.pcapng": shb() + idb(tsoffset=1 << 62) + epb(ETH_FRAME, ticks=5),
    "ts-tsresol-0.pcapng": shb() + idb(tsresol=0) + epb(ETH_FRAME, ticks=1 << 40),
    "oversize-record-past-eof.pcap": pcap_header()
    + pcap_record(ETH_FRAME)
    + pcap_record(b"\xee" * 100, caplen=300_000, orig_len=300_000),
    "snaplen-jumbo-and-qinq.pcap": pcap_header(snaplen=100)
    + pcap_record(ETH_FRAME + bytes(40), orig_len=9002)
    + pcap_record(ETH_FRAME[:12] + bytes.fromhex("88a8000581000006") + bytes(1502)),
}

if __name__ == "__main__":
    for name, content in FILES.items():
        (HERE / name).write_bytes(content)
        print(f"{name}: {len(content)} bytes")
