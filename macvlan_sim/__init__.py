"""macvlan-sim: a packet-level emulator of the Linux MACVLAN demultiplexer.

The dispatch core (``macvlan_sim.datapath.engine``) is sans-I/O: it takes frames and returns
deliveries. Capture files, sockets, the CLI and the kernel harness are thin layers around it.
"""

__version__ = "0.1.0"

# The public API: user code imports these from ``macvlan_sim`` and never depends on the layout.
from macvlan_sim.datapath.callbacks import CallbackError, ReentryError
from macvlan_sim.datapath.engine import Engine
from macvlan_sim.datapath.outcome import Drop, FrameOutcome, Reception
from macvlan_sim.io.capture import CaptureWriter, open_capture
from macvlan_sim.io.scenario import Scenario
from macvlan_sim.io.scenario_schema import ScenarioError
from macvlan_sim.io.topology import Topology, load_topology, parse_topology
from macvlan_sim.model.errors import KernelError, SimError
from macvlan_sim.model.host import Host

__all__ = [
    "CallbackError",
    "CaptureWriter",
    "Drop",
    "Engine",
    "FrameOutcome",
    "Host",
    "KernelError",
    "Reception",
    "ReentryError",
    "Scenario",
    "ScenarioError",
    "SimError",
    "Topology",
    "__version__",
    "load_topology",
    "open_capture",
    "parse_topology",
]
