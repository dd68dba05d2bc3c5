"""The health state's rules (restart/health.py), on a hand-driven clock; HTTP over real sockets.

What each probe says in each state: nothing serving, serving, a watchdog kept or missed, a
``WATCHDOG=trigger``, shutting down; and the shutdown delay's hold-then-stop. The HTTP tests
serve a real loopback socket and a Unix socket from the server's own thread.
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

import pytest

from socket_activation.restart.generations import Generation
from socket_activation.restart.health import Health, ShutdownDelay
from socket_activation.restart.health_server import HealthServer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gen(number: int, pid: int = 4000) -> Generation:
    return Generation(number, pid + number, "serving")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_nothing_serves_at_first_both_probes_say_503(clock: Clock) -> None:
    health = Health(clock=clock)
    assert (health.livez().status, health.readyz().status) == (503, 503)
    health.observe(None, stopping=False)
    assert health.readyz().reason == "no generation is ready"


def test_a_serving_generation_makes_both_200_and_is_named(clock: Clock) -> None:
    health = Health(clock=clock)
    health.observe(gen(1), stopping=False)
    live, ready = health.livez(), health.readyz()
    assert (live.status, ready.status) == (200, 200)
    assert (ready.generation, ready.pid) == (1, 4001)
    assert json.loads(ready.body()) == {
        "status": "ok",
        "reason": "generation 1 is ready",
        "generation": 1,
        "pid": 4001,
    }


def test_the_serving_generation_gone_both_turn_503(clock: Clock) -> None:
    health = Health(clock=clock)
    health.observe(gen(1), stopping=False)
    health.observe(None, stopping=False)
    assert (health.livez().status, health.readyz().status) == (503, 503)


def test_shutting_down_turns_readiness_off_for_good_but_not_liveness(clock: Clock) -> None:
    health = Health(clock=clock)
    health.observe(gen(1), stopping=False)
    health.shutting_down()
    assert (health.livez().status, health.readyz().status) == (200, 503)
    health.observe(gen(2), stopping=False)  # a replacement after the SIGTERM: still not ready
    assert health.readyz().reason == "shutting down"


def test_stopping_reported_by_the_loop_turns_readiness_off(clock: Clock) -> None:
    health = Health(clock=clock)
    health.observe(gen(1), stopping=True)
    assert health.readyz().status == 503


def test_a_watchdog_kept_alive_stays_live_a_missed_one_is_503(clock: Clock) -> None:
    health = Health(watchdog_usec=2_000_000, clock=clock)
    assert health.environment() == {"WATCHDOG_USEC": "2000000"}
    health.observe(gen(1), stopping=False)
    clock.now += 1.5
    assert health.livez().status == 200
    health.notified(1, {"WATCHDOG": "1"})
    clock.now += 1.9
    assert health.livez().status == 200
    clock.now += 0.2
    live = health.livez()
    assert live.status == 503
    assert "sent no WATCHDOG=1 for 2.1 s (watchdog 2 s)" in live.reason
    assert health.readyz().status == 200, "readiness is about READY=1, not the watchdog"


def test_a_generation_may_set_its_own_watchdog(clock: Clock) -> None:
    health = Health(clock=clock)
    assert health.environment() == {}
    health.observe(gen(1), stopping=False)
    clock.now += 100
    assert health.livez().status == 200, "no watchdog: silence is fine"
    health.notified(1, {"WATCHDOG_USEC": "500000"})
    clock.now += 0.6
    assert health.livez().status == 503


def test_watchdog_trigger_is_503_at_once(clock: Clock) -> None:
    health = Health(watchdog_usec=10_000_000, clock=clock)
    health.observe(gen(1), stopping=False)
    health.notified(1, {"WATCHDOG": "trigger"})
    assert "WATCHDOG=trigger" in health.livez().reason


def test_only_the_serving_generations_pings_count(clock: Clock) -> None:
    health = Health(watchdog_usec=1_000_000, clock=clock)
    health.observe(gen(1), stopping=False)
    clock.now += 0.9
    health.notified(2, {"WATCHDOG": "1"})  # a starting generation, not serving
    clock.now += 0.2
    assert health.livez().status == 503


def test_a_new_serving_generation_starts_a_fresh_watchdog(clock: Clock) -> None:
    health = Health(watchdog_usec=1_000_000, clock=clock)
    health.observe(gen(1), stopping=False)
    health.notified(1, {"WATCHDOG": "trigger"})
    clock.now += 5
    health.observe(gen(2), stopping=False)
    assert health.livez().status == 200


def test_watchdog_must_be_positive() -> None:
    with pytest.raises(ValueError, match="watchdog_usec must be positive"):
        Health(watchdog_usec=0)


def test_shutdown_delay_holds_the_first_stop_then_is_due_once(clock: Clock) -> None:
    delay = ShutdownDelay(3.0, clock=clock)
    assert delay.hold() is True
    assert delay.pending
    clock.now += 2.9
    assert not delay.due()
    clock.now += 0.2
    assert delay.due()
    assert not delay.due()
    assert not delay.pending


def test_a_second_stop_signal_during_the_delay_stops_at_once(clock: Clock) -> None:
    delay = ShutdownDelay(3.0, clock=clock)
    assert delay.hold() is True
    assert delay.hold() is False
    assert not delay.pending


def test_no_delay_holds_nothing(clock: Clock) -> None:
    assert ShutdownDelay(0.0, clock=clock).hold() is False
    with pytest.raises(ValueError, match="must not be negative"):
        ShutdownDelay(-1.0)


# -- HTTP ----------------------------------------------------------------------------------


def get(sock_address: tuple[str, int] | str, path: str) -> tuple[int, dict[str, object]]:
    if isinstance(sock_address, str):

        class UnixConnection(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(5)
                self.sock.connect(sock_address)

        conn: http.client.HTTPConnection = UnixConnection("localhost", timeout=5)
    else:
        conn = http.client.HTTPConnection(*sock_address, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_the_server_answers_both_probes_over_tcp(clock: Clock) -> None:
    health = Health(clock=clock)
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    with HealthServer(listener, health) as server:
        assert server.address == f"127.0.0.1:{address[1]}"
        assert get(address, "/readyz")[0] == 503
        health.observe(gen(3), stopping=False)
        status, body = get(address, "/readyz?verbose")
        assert (status, body["generation"]) == (200, 3)
        assert get(address, "/livez")[0] == 200
        status, body = get(address, "/metrics")
        assert status == 404
        assert "try /livez or /readyz" in str(body["reason"])
    assert listener.fileno() == -1, "close() closed the socket"


def test_the_server_answers_over_a_unix_socket(tmp_path: Path, clock: Clock) -> None:
    path = str(tmp_path / "health.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    health = Health(clock=clock)
    health.observe(gen(1), stopping=False)
    with HealthServer(listener, health) as server:
        assert server.address == path
        assert get(path, "/livez") == (
            200,
            {"status": "ok", "reason": "generation 1 serves", "generation": 1, "pid": 4001},
        )


def test_a_silent_client_does_not_block_other_probes(clock: Clock) -> None:
    health = Health(clock=clock)
    health.observe(gen(1), stopping=False)
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    with HealthServer(listener, health), socket.create_connection(address) as silent:
        silent.sendall(b"GET /livez HTTP/1.1\r\n")  # never finishes its request
        assert get(address, "/readyz")[0] == 200
