"""``supervise --health``: the probes over real HTTP while real generations start, roll out,
hang and stop; and a load test in which clients stop sending once ``/readyz`` says 503.

supervise runs tests/support/restart_app.py (or watchdog_app.py, the same with a watchdog) on a
loopback TCP socket it binds; probes are plain HTTP GETs from this process, each bounded by a
timeout. Nothing asserts a duration: the tests assert what each probe answered, in order.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.net import free_port, stop_process
from tests.support.load import Load, Sample

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
APP = str(ROOT / "tests" / "support" / "restart_app.py")
WATCHDOG_APP = str(ROOT / "tests" / "support" / "watchdog_app.py")
# every probe gets this long; a probe that does not answer in time fails the test
PROBE_TIMEOUT = 5.0


def probe(port: int, path: str) -> tuple[int, dict[str, object]]:
    """GET *path* on the health port: (HTTP status, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(json.loads(response.read()))
    finally:
        conn.close()


class Instance:
    """One ``supervise --listen 127.0.0.1:P --health 127.0.0.1:H OPTIONS -- APP ARGS``."""

    def __init__(
        self,
        tmp: Path,
        options: list[str],
        app: list[str],
        *,
        script: str = APP,
        gate: Path | None = None,
    ) -> None:
        """*gate*: each generation's start-up waits until that file exists (then execs the app,
        keeping its pid), so a test decides when start-up ends."""
        self.port, self.health = free_port(), free_port()
        self.log = tmp / f"supervise-{self.port}.log"
        self.fault = tmp / f"fault-{self.port}"
        wait = []
        if gate is not None:
            loop = 'while [ ! -e "$GATE" ]; do sleep 0.02; done; exec "$0" "$@"'
            wait = ["/bin/sh", "-c", loop]
        argv = [
            sys.executable,
            "-m",
            "socket_activation",
            "supervise",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--health",
            f"127.0.0.1:{self.health}",
            *options,
            "--",
            *wait,
            sys.executable,
            script,
            "--fault-file",
            str(self.fault),
            *app,
        ]
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "GATE": str(gate or "")}
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(argv, env=env, stderr=log, text=True)

    def probe(self, path: str) -> tuple[int, dict[str, object]]:
        return probe(self.health, path)

    def wait_probe(self, path: str, status: int, timeout: float = 30) -> dict[str, object]:
        """Probe until *path* answers *status*; its body. Refused connections are retried."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                code, body = self.probe(path)
                if code == status:
                    return body
            except ConnectionRefusedError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} never answered {status}:\n{self.log.read_text()}")
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        stop_process(self.proc)


@pytest.fixture
def instances() -> Iterator[list[Instance]]:
    started: list[Instance] = []
    yield started
    for each in started:
        each.close()


def sample_probes(
    instance: Instance,
    stop: threading.Event,
    seen: list[tuple[int, int, int | None]],
    errors: list[str],
) -> None:
    """Append (readyz, livez, readyz generation) to *seen* every 50 ms until *stop*; a probe
    that fails (no answer within PROBE_TIMEOUT) goes to *errors*, with how long it took."""
    while not stop.is_set() and len(seen) < 2000:
        started = time.monotonic()
        try:
            ready, body = instance.probe("/readyz")
            live, _ = instance.probe("/livez")
        except OSError as exc:
            errors.append(f"{exc!r} after {time.monotonic() - started:.2f} s")
            continue
        generation = body["generation"]
        seen.append((ready, live, generation if isinstance(generation, int) else None))
        time.sleep(0.05)


def test_during_the_first_start_up_both_probes_say_503_until_ready_1(
    tmp_path: Path, instances: list[Instance]
) -> None:
    """While the first generation is starting (held at a gate) both probes answer 503, however
    often asked; once it said READY=1, 200 naming generation 1."""
    gate = tmp_path / "gate"
    inst = Instance(tmp_path, [], ["--startup", "0.2"], gate=gate)
    instances.append(inst)
    body = inst.wait_probe("/readyz", 503)
    assert body == {
        "status": "unavailable",
        "reason": "no generation is ready",
        "generation": None,
        "pid": None,
    }
    nothing = {"status": "unavailable", "reason": "no generation serves"}
    for _ in range(10):
        assert inst.probe("/readyz")[0] == 503
        assert inst.probe("/livez") == (503, {**nothing, "generation": None, "pid": None})
        time.sleep(0.05)
    assert "started generation 1" in inst.log.read_text()
    gate.touch()
    ready = inst.wait_probe("/readyz", 200)
    assert ready["generation"] == 1
    assert f"generation 1 (pid {ready['pid']}) is ready" in inst.log.read_text()
    assert inst.probe("/livez") == (
        200,
        {"status": "ok", "reason": "generation 1 serves", "generation": 1, "pid": ready["pid"]},
    )


def test_a_reload_keeps_both_probes_200_and_moves_to_the_new_generation(
    tmp_path: Path, instances: list[Instance]
) -> None:
    """SIGHUP: the old generation stays ready while the new one starts (1 s); then the new one."""
    inst = Instance(tmp_path, [], ["--startup", "1.0"])
    instances.append(inst)
    inst.wait_probe("/readyz", 200)
    stop = threading.Event()
    seen: list[tuple[int, int, int | None]] = []
    errors: list[str] = []
    sampler = threading.Thread(target=sample_probes, args=(inst, stop, seen, errors))
    sampler.start()
    try:
        inst.signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while not any(g == 2 for _, _, g in seen[-1:]):  # the sampler has seen generation 2
            assert time.monotonic() < deadline, inst.log.read_text()
            time.sleep(0.05)
    finally:
        stop.set()
        sampler.join(30)
    assert errors == [], "every probe was answered"
    assert {(r, lv) for r, lv, _ in seen} == {(200, 200)}, "never 503 during a reload"
    generations = [g or 0 for _, _, g in seen]  # never None: something always served
    assert generations[0] == 1
    assert generations[-1] == 2
    assert generations == sorted(generations), "from 1 to 2, once"


def test_a_new_generation_that_hangs_leaves_the_old_one_ready_and_probes_answered(
    tmp_path: Path, instances: list[Instance]
) -> None:
    """The new generation hangs before READY=1: probes keep answering 200 for generation 1,
    and after its ready timeout it is stopped; generation 1 serves on."""
    inst = Instance(tmp_path, ["--ready-timeout", "2"], ["--startup", "0.2"])
    instances.append(inst)
    inst.wait_probe("/readyz", 200)
    inst.fault.write_text("hang")
    stop = threading.Event()
    seen: list[tuple[int, int, int | None]] = []
    errors: list[str] = []
    sampler = threading.Thread(target=sample_probes, args=(inst, stop, seen, errors))
    sampler.start()
    try:
        inst.signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "sent no READY=1 within 2 s" not in inst.log.read_text():
            assert time.monotonic() < deadline, inst.log.read_text()
            time.sleep(0.1)
    finally:
        stop.set()
        sampler.join(30)
    assert errors == [], "every probe was answered while the new generation hung"
    assert "fault hang" in inst.log.read_text()
    assert len(seen) >= 10, "probes were answered while the generation hung"
    assert set(seen) == {(200, 200, 1)}


def test_a_hung_serving_generation_fails_liveness_through_its_watchdog(
    tmp_path: Path, instances: list[Instance]
) -> None:
    """--watchdog 1: the serving app pings WATCHDOG=1; stopped with SIGSTOP (hung, no pings)
    /livez turns 503 naming the watchdog, /readyz stays 200 (readiness is READY=1's); after
    SIGCONT the pings come back and so does 200."""
    inst = Instance(tmp_path, ["--watchdog", "1"], ["--startup", "0.2"], script=WATCHDOG_APP)
    instances.append(inst)
    ready = inst.wait_probe("/readyz", 200)
    pid = ready["pid"]
    assert isinstance(pid, int)
    time.sleep(1.5)  # longer than the watchdog: it is kept alive by the pings
    assert inst.probe("/livez")[0] == 200
    os.kill(pid, signal.SIGSTOP)
    try:
        body = inst.wait_probe("/livez", 503)
        assert "sent no WATCHDOG=1" in str(body["reason"]), body
        assert body["generation"] == 1
        assert inst.probe("/readyz")[0] == 200
    finally:
        os.kill(pid, signal.SIGCONT)
    inst.wait_probe("/livez", 200)


def test_sigterm_with_a_delay_turns_readiness_off_first_and_serves_on(
    tmp_path: Path, instances: list[Instance]
) -> None:
    """--shutdown-delay 2: at SIGTERM /readyz says 503 at once while /livez and the app still
    answer; then the app drains and supervise exits with its status (0)."""
    inst = Instance(tmp_path, ["--shutdown-delay", "2"], ["--startup", "0.2"])
    instances.append(inst)
    inst.wait_probe("/readyz", 200)
    inst.signal(signal.SIGTERM)
    body = inst.wait_probe("/readyz", 503, timeout=5)
    assert body["reason"] == "shutting down"
    assert inst.probe("/livez")[0] == 200
    load = Load(("127.0.0.1", inst.port), clients=1, max_requests=1)
    served = load.one(b"GET / HTTP/1.0\r\n\r\n")
    assert served.outcome == "ok", "serving goes on during the delay"
    assert inst.proc.poll() is None
    assert inst.wait() == 0
    text = inst.log.read_text()
    assert text.index("serving 2 s more") < text.index("shutdown delay of 2 s is over")
    assert text.index("shutdown delay of 2 s is over") < text.index("SIGTERM: stopping")


def test_during_the_delay_a_reload_is_refused_and_a_second_sigterm_stops_at_once(
    tmp_path: Path, instances: list[Instance]
) -> None:
    """--shutdown-delay 30: SIGHUP in the delay starts no generation; a second SIGTERM ends the
    delay and stops (the log never says the delay is over)."""
    inst = Instance(tmp_path, ["--shutdown-delay", "30"], ["--startup", "0.2"])
    instances.append(inst)
    inst.wait_probe("/readyz", 200)
    inst.signal(signal.SIGTERM)
    inst.wait_probe("/readyz", 503, timeout=5)
    inst.signal(signal.SIGHUP)
    time.sleep(1.0)  # a rollout would have started generation 2 by now
    assert "started generation 2" not in inst.log.read_text()
    inst.signal(signal.SIGTERM)
    assert inst.wait(timeout=20) == 0
    text = inst.log.read_text()
    assert "stopping on SIGTERM" in text
    assert "shutdown delay of 30 s is over" not in text


def test_health_on_a_unix_socket_path(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    """--health /path: the probes answer over a Unix socket (curl --unix-socket); the socket
    file is removed when supervise exits."""
    path = tmp_path / "health.sock"
    argv = [
        sys.executable,
        "-m",
        "socket_activation",
        "supervise",
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--health",
        str(path),
        "--",
        sys.executable,
        APP,
        "--startup",
        "0.2",
    ]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    processes.append(proc)
    deadline = time.monotonic() + 30
    while True:
        answer = subprocess.run(
            ["curl", "-sS", "--max-time", "5", "--unix-socket", str(path), "http://x/readyz"],
            capture_output=True,
            text=True,
            check=False,
        )
        if answer.returncode == 0 and json.loads(answer.stdout)["status"] == "ok":
            break
        assert time.monotonic() < deadline, answer.stderr
        time.sleep(0.1)
    assert json.loads(answer.stdout)["generation"] == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert not path.exists()


class Balancer:
    """Clients that send only to instances whose last /readyz said 200 (an endpoints list)."""

    def __init__(self, backends: list[Instance], clients: int = 4) -> None:
        self.backends = backends
        self.ready = {id(b): True for b in backends}
        self.samples: list[tuple[int, Sample]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._poll, daemon=True)] + [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)
        ]

    def _poll(self) -> None:
        while not self._stop.is_set():
            for backend in self.backends:
                try:
                    ok = backend.probe("/readyz")[0] == 200
                except OSError:
                    ok = False
                self.ready[id(backend)] = ok
            time.sleep(0.05)

    def _client(self, n: int) -> None:
        request = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"
        turn = n
        while not self._stop.is_set() and len(self.samples) < 20_000:
            ready = [b for b in self.backends if self.ready[id(b)]]
            if not ready:
                time.sleep(0.01)
                continue
            turn += 1
            backend = ready[turn % len(ready)]
            sample = Load(("127.0.0.1", backend.port)).one(request)
            with self._lock:
                self.samples.append((backend.port, sample))

    def __enter__(self) -> Balancer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(20)


def test_clients_that_stop_sending_on_readyz_503_see_no_failure(
    tmp_path: Path, instances: list[Instance]
) -> None:
    """Two instances behind a balancer that follows /readyz; one gets SIGTERM with a 1.5 s
    delay: the balancer drops it when it says 503, it serves what was already sent, and not one
    request fails. Then it exits 0 while the other serves on."""
    leaving = Instance(tmp_path, ["--shutdown-delay", "1.5"], ["--startup", "0.2"])
    staying = Instance(tmp_path, [], ["--startup", "0.2"])
    instances += [leaving, staying]
    for each in instances:
        each.wait_probe("/readyz", 200)
    with Balancer([leaving, staying]) as balancer:
        time.sleep(1.0)
        leaving.signal(signal.SIGTERM)
        assert leaving.wait(timeout=30) == 0
        time.sleep(0.5)
    outcomes = [s.outcome for _, s in balancer.samples]
    failed = [s for s in outcomes if s != "ok"]
    by_port = {
        port: sum(1 for p, _ in balancer.samples if p == port)
        for port in {leaving.port, staying.port}
    }
    assert failed == [], f"{len(failed)} of {len(outcomes)} failed"
    assert by_port[leaving.port] > 0
    assert by_port[staying.port] > 0
    assert len(outcomes) > 50
