"""The simulator's protocol services: FCM HTTP v1 + OAuth, the APNs provider API, and Web Push.

Start them all with ``SimulatorServices`` (in a loop you own) or ``ServicesThread`` (from sync code); steer
faults through ``SimulatorServices.faults`` (``ServiceFaults``, see ``simulator.services.faults``).
"""

from simulator.services.faults import FaultInjector, FaultSettings, Latency, LatencyKind, ServiceFaults
from simulator.services.server import ServicePorts, ServicesThread, SimulatorServices

__all__ = [
    "FaultInjector",
    "FaultSettings",
    "Latency",
    "LatencyKind",
    "ServiceFaults",
    "ServicePorts",
    "ServicesThread",
    "SimulatorServices",
]
