"""A local three-node RabbitMQ cluster for the fault tests: its own node names, loopback ports,
data directories and Erlang cookie, started by the test and always stopped at the end.

Each node is a :class:`~fault_processes.PrivateRabbit` with the cluster's cookie; nodes 2 and 3
join node 1 (``rabbitmqctl join_cluster``). A node can be killed with SIGKILL (its whole process
group: the Erlang VM dies without a goodbye to its peers) and started again with the same name
and data, when it rejoins the cluster by itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from common_support import wait_until
from fault_processes import PrivateRabbit


class ClusterNode(PrivateRabbit):
    def __init__(self, cookie: str) -> None:
        super().__init__()
        # RabbitMQ 3.x reads the cookie from this variable (server and CLI tools alike).
        self.env["RABBITMQ_ERLANG_COOKIE"] = cookie

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """``rabbitmqctl -n <this node> ARGS`` with the cluster's cookie; its stdout."""
        result = subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)} on {self.node}: {result.stderr}")
        return result.stdout

    def launch(self) -> None:
        """Start the node without waiting (the three start side by side)."""
        log = open(self.root / "server.out", "ab")  # noqa: SIM115  (the child keeps it)
        self.process = subprocess.Popen(
            ["rabbitmq-server"], env=self.env, stdout=log, stderr=log, start_new_session=True
        )

    def kill9(self) -> None:
        """SIGKILL the node's Erlang VM (its pid from the node's pid file: the server script
        drops privileges, so the VM is not in the script's process group), then the script."""
        assert self.process is not None
        os.kill(int((self.root / "pid").read_text().strip()), signal.SIGKILL)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None
        wait_until(lambda: not self._accepting(), 30, f"{self.node} gone")

    def stop(self) -> None:
        if self.process is None:
            return
        with suppress(AssertionError, subprocess.TimeoutExpired):
            self.ctl("stop", timeout=60)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None


class RabbitCluster:
    def __init__(self, size: int = 3) -> None:
        cookie = f"YOKEDFAULTS{uuid.uuid4().hex.upper()}"
        self.nodes = [ClusterNode(cookie) for _ in range(size)]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def rabbitmq_url(self) -> str:
        """``RABBITMQ_URL`` for the whole cluster: the nodes' URLs, comma-separated."""
        return ",".join(self.urls)

    def node_named(self, name: str) -> ClusterNode:
        return next(node for node in self.nodes if node.node == name)

    def start(self) -> None:
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            wait_until(node._accepting, 120, f"{node.node} start")
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.node)
            node.ctl("start_app")
            wait_until(node._accepting, 60, f"{node.node} back after joining")
        running = json.loads(first.ctl("cluster_status", "--formatter", "json"))["running_nodes"]
        assert sorted(running) == sorted(n.node for n in self.nodes), running

    def queue_members(self, queue: str, ask: ClusterNode) -> tuple[str, list[str]]:
        """(leader, members) of the quorum queue ``queue``, as node ``ask`` reports them."""
        out = ask.ctl("list_queues", "name", "leader", "members", "--formatter", "json")
        listed = json.loads(out)
        for row in listed:
            if row["name"] == queue:
                return row["leader"], list(row["members"])
        raise AssertionError(f"queue {queue!r} not found on {ask.node}")

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.cleanup()


@contextmanager
def rabbit_cluster(size: int = 3) -> Iterator[RabbitCluster]:
    cluster = RabbitCluster(size)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
