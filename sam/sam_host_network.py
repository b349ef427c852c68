"""SAM CLI, with `--docker-network host` made to work: run with .venv-sam's Python, in place of `sam`.

SAM CLI 1.170 publishes the emulator's port 8080 on a random host port and dials that port, and with
`--docker-network host` it neither puts the container on the host's network (it only skips connecting
it to another one) nor can it publish a port there. Here a container asked onto the host's network is
put there, without published ports, and its runtime interface emulator listens on 127.0.0.1 at the
port SAM dials. Nothing else of SAM changes. sam/requirements.txt pins the release this was written for.
"""

from __future__ import annotations

import sys
from typing import Any

from docker.models.containers import ContainerCollection
from samcli.cli.main import cli
from samcli.local.docker.container import Container

create = Container.create
create_container = ContainerCollection.create


def create_on_host_network(self: Any, *args: Any, **kwargs: Any) -> Any:
    if self.network_id == "host":
        self._container_opts = {**(self._container_opts or {}), "network_mode": "host"}
        self._entrypoint = [
            *self._entrypoint,
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.rapid_port_host}",
        ]
        self.network_id = None  # SAM would otherwise connect it to a network named "host"
    return create(self, *args, **kwargs)


def create_without_published_ports(self: Any, image: str, command: Any = None, **kwargs: Any) -> Any:
    if kwargs.get("network_mode") == "host":
        kwargs.pop("ports", None)  # Docker refuses published ports on the host's network
    return create_container(self, image, command, **kwargs)


Container.create = create_on_host_network
ContainerCollection.create = create_without_published_ports

if __name__ == "__main__":
    sys.exit(cli())
