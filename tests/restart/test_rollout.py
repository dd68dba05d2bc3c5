"""RolloutTracker: which client hears which outcome, and what the manager is told, when."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from socket_activation.restart.control import ControlRequest, Peer
from socket_activation.restart.release import socket_inodes
from socket_activation.restart.rollout import RolloutTracker


class Client:
    """A control request whose answer lands in a real socket pair."""

    def __init__(self) -> None:
        self.ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.request = ControlRequest("reload", Peer(os.getpid(), 0, 0), {}, theirs)

    def answer(self) -> dict[str, Any] | None:
        self.ours.settimeout(0.01)
        try:
            return dict(json.loads(self.ours.recv(4096)))
        except TimeoutError:
            return None

    def close(self) -> None:
        self.ours.close()
        if not self.request.answered:
            self.request.fail("test over")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def test_a_rollout_completes_only_when_the_old_generation_let_go(
    listener: socket.socket, clients: list[Client]
) -> None:
    """READY=1 of the new one is not enough: while an old pid holds the socket, nobody hears."""
    told: list[str] = []
    tracker = RolloutTracker(sorted(socket_inodes([listener])), told.append)
    clients.append(Client())
    tracker.request(clients[0].request)
    tracker.started(2)
    assert told[0].startswith("RELOADING=1\nMONOTONIC_USEC=")
    assert told[0].endswith("\nSTATUS=starting generation 2")
    with subprocess.Popen(["sleep", "30"], pass_fds=[listener.fileno()]) as old:
        tracker.promoted(2, 4242, [old.pid], "generation 2 (pid 4242) serving")
        assert clients[0].answer() is None
        assert tracker.timeout() is not None
        assert len(told) == 1
        old.kill()
    tracker.poll()
    answer = clients[0].answer()
    assert answer is not None
    assert answer["ok"] is True
    assert answer["pid"] == 4242
    assert answer["generation"] == 2
    assert told[1] == "READY=1\nSTATUS=generation 2 (pid 4242) serving"
    assert tracker.timeout() is None


def test_a_request_during_a_rollout_waits_for_the_next(
    listener: socket.socket, clients: list[Client]
) -> None:
    told: list[str] = []
    tracker = RolloutTracker(sorted(socket_inodes([listener])), told.append)
    early, late = Client(), Client()
    clients += [early, late]
    tracker.request(early.request)
    tracker.started(2)
    tracker.request(late.request)  # generation 2 may predate what this client wants to see
    tracker.failed(2, "generation 2 (pid 9) exited with status 3 before READY=1")
    assert early.answer() == {
        "ok": False,
        "error": "generation 2 (pid 9) exited with status 3 before READY=1",
    }
    assert late.answer() is None
    assert told[-1] == (
        "READY=1\nSTATUS=reload failed: generation 2 (pid 9) exited with status 3 before READY=1"
    )
    tracker.started(3)
    tracker.promoted(3, 10, [], "generation 3 (pid 10) serving")
    answer = late.answer()
    assert answer is not None
    assert answer["ok"] is True
    assert answer["pid"] == 10


def test_outcomes_of_other_generations_are_not_rollouts(clients: list[Client]) -> None:
    """The first generation, or a crash replacement, is no rollout: nothing is answered."""
    told: list[str] = []
    tracker = RolloutTracker([], told.append)
    clients.append(Client())
    tracker.request(clients[0].request)
    tracker.promoted(1, 5, [], "generation 1 (pid 5) serving")
    tracker.failed(1, "no")
    assert told == []
    assert clients[0].answer() is None
    tracker.abort("supervise is stopping")
    assert clients[0].answer() == {"ok": False, "error": "supervise is stopping"}


def test_a_later_rollout_also_waits_for_older_generations_still_handing_over(
    listener: socket.socket, clients: list[Client]
) -> None:
    """Reloads in quick succession: rollout 3 cannot complete while generation 1 (from the
    still pending handover of rollout 2) holds the socket."""
    tracker = RolloutTracker(sorted(socket_inodes([listener])), lambda _m: None)
    second, third = Client(), Client()
    clients += [second, third]
    with subprocess.Popen(["sleep", "30"], pass_fds=[listener.fileno()]) as first_gen:
        tracker.request(second.request)
        tracker.started(2)
        tracker.promoted(2, 20, [first_gen.pid], "generation 2 serving")
        tracker.request(third.request)
        tracker.started(3)
        tracker.promoted(3, 30, [20], "generation 3 serving")  # pid 20 does not exist: let go
        assert second.answer() is None
        assert third.answer() is None
        first_gen.kill()
    tracker.poll()
    assert (second.answer() or {}).get("pid") == 20
    assert (third.answer() or {}).get("pid") == 30
