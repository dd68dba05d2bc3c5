"""The example demo service keeps its socket across restarts through systemd's fd store.

socket-activation-demo.service started alone (its socket unit stopped) binds its own socket and
parks it in the fd store (`demo --fdstore`, `FileDescriptorStoreMax=8`). Each restart hands the
same listening socket to the next process, so a client hammering it during restarts is never
refused (measured with ``socket_activation.testing.measure_load``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from socket_activation.testing import measure_load
from tests.integration.net import curl, free_port_for_tcp_and_udp
from tests.integration.test_units import (
    SERVICE,
    SOCKET,
    program_for,
    substitute,
)
from tests.integration.usermanager import UserManager


@pytest.fixture
def demo_service(user_manager: UserManager) -> Iterator[UserManager]:
    yield user_manager
    if user_manager.running:
        user_manager.systemctl("stop", SERVICE, SOCKET, check=False)
        for name in (SERVICE, SOCKET):
            (user_manager.unit_dir / name).unlink(missing_ok=True)
        user_manager.daemon_reload()
        user_manager.systemctl("reset-failed", "socket-activation-demo*", check=False)


@pytest.mark.parametrize(
    "with_socket_unit", [False, True], ids=["no-socket-unit", "socket-stopped"]
)
def test_demo_service_alone_keeps_its_socket_across_restarts(
    demo_service: UserManager, with_socket_unit: bool
) -> None:
    """Bound once, then handed back by the fd store on each restart: zero refused."""
    manager = demo_service
    port = free_port_for_tcp_and_udp()
    # the service as shipped, but for the program path and the port it binds when alone
    text = substitute(SERVICE, program_for(SERVICE)).replace(
        "demo --fdstore", f"demo --fdstore --listen 127.0.0.1:{port} --fdname demo"
    )
    manager.write_unit(SERVICE, text)
    if with_socket_unit:  # installed but stopped
        manager.write_unit(SOCKET, substitute(SOCKET, {":8000": f":{free_port_for_tcp_and_udp()}"}))
    manager.daemon_reload()
    manager.systemctl("start", SERVICE)
    manager.wait_for(SERVICE, "ActiveState", "active", timeout=20)
    first = curl(f"http://127.0.0.1:{port}/")
    assert (first["source"], first["name"]) == ("bound", "demo")
    assert manager.show(SERVICE, "NFileDescriptorStore")["NFileDescriptorStore"] == "1"

    pids = {first["pid"]}

    def restart() -> None:
        manager.systemctl("restart", SERVICE)
        manager.wait_for(SERVICE, "ActiveState", "active", timeout=20)
        answer = curl(f"http://127.0.0.1:{port}/")
        assert (answer["source"], answer["name"], answer["fd"]) == ("systemd", "demo", 3)
        pids.add(answer["pid"])

    result = measure_load(("127.0.0.1", port), [restart] * 3, clients=2)
    assert len(pids) == 4, "every restart is a new process"
    assert result.ok > 0
    assert result.refused == 0, result.summary()
