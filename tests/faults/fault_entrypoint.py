"""What the fault tests' worker processes import: the service's entrypoint plus the fault jobs."""

from __future__ import annotations

import fault_actors

from yoked_actors.entrypoint import broker  # noqa: F401  (settings, logging, broker, actors)

fault_actors.declare()  # after the entrypoint has built the broker
fault_actors.declare_slow()
