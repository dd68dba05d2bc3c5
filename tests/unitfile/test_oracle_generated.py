"""Generated ``[Socket]`` sections: the library's reading equals systemd 252's own.

Hypothesis writes units from every directive the library reads, with values systemd accepts,
values it ignores with a warning, values that make it refuse the unit, empty assignments and
specifiers, under plain and instance names; ``systemd-analyze verify`` is the oracle, compared
as in the corpus test (tests/support/unitcompare). Bounded: a few hundred units, each one
``systemd-analyze`` run of a few tens of milliseconds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import require_tool
from tests.support.sdverify import verify_unit
from tests.support.unitcompare import disagreements, library_view

BOOLEANS = ["yes", "no", "1", "0", "true", "off", "On", "maybe", ""]
UNSIGNED = [
    "0",
    "1",
    "128",
    "0x10",
    "010",
    "0o17",
    "0b11",
    "+5",
    "-1",
    "4294967295",
    "4294967296",
    "abc",
    "",
]
MODES = ["0600", "666", "0o644", "8", "07777", "10000", "", "-1", "0"]
SIZES = ["0", "256K", "1M", "1.5K", "8M", "3B", "lots", "", "-1", "1G"]
SPANS = ["0", "5", "5s", "2min", "1h", "soon", "", "3 s"]
LISTEN = [
    "/run/gen/a.sock",
    "/var/run/gen.sock",
    "/var//run/x/y.sock",
    "@gen-abstract",
    "127.0.0.1:4100",
    "[::1]:4101",
    "[0:0::1]:4102",
    "4103",
    "0",
    "127.0.0.1",
    "rel/path",
    "localhost:80",
    "127.0.0.1:0",
    "127.0.0.1:70000",
    "/run/%i.sock",
    "/run/%I-%j-%J-%p.sock",
    "%t/gen.sock",
    "/run/%z.sock",
    "",
]
OTHER_PORTS = {
    "ListenFIFO": ["/run/gen.fifo", "/var/run/gen.fifo", "rel.fifo", "/run//a/./b.fifo"],
    "ListenSpecial": ["/dev/null", "dev/null"],
    "ListenNetlink": ["kobject-uevent 1", "route", "nonsense 1", "audit x"],
}
VALUES = {
    "ListenStream": LISTEN,
    "ListenDatagram": LISTEN,
    "ListenSequentialPacket": LISTEN,
    **OTHER_PORTS,
    "BindIPv6Only": ["yes", "no", "default", "both", "ipv6-only", "sometimes", "", "true"],
    "Backlog": UNSIGNED,
    "MaxConnections": UNSIGNED,
    "SocketMode": MODES,
    "DirectoryMode": MODES,
    "ReceiveBuffer": SIZES,
    "SendBuffer": SIZES,
    "DeferAcceptSec": SPANS,
    "BindToDevice": ["lo", "*", "", "a/b", "all", "toolongname12345", "1", "eth0", "a%b"],
    "FileDescriptorName": ["web", "a:b", "%n", "%N-x", "", "x y", "%z", "%i"],
    "SocketUser": ["root", "0", "www-data", "a:b", "", "%u", "1234"],
    "SocketGroup": ["root", "0", "-5", "", "..", "x y"],
    "Service": ["other.service", "bad.target", "%N.service", ""],
    "ListenStraem": ["1"],
    "Priority": ["0", "6", "-1", "-5", "0x10", "prio", "", "2147483648"],
    "Mark": ["1", "-1", "", "x"],
    "IPTTL": ["64", "-1", "", "256"],
    "IPTOS": [
        "low-delay",
        "throughput",
        "reliability",
        "low-cost",
        "16",
        "255",
        "256",
        "-1",
        "",
        "fast",
    ],
    "KeepAliveTimeSec": SPANS,
    "KeepAliveIntervalSec": SPANS,
    "KeepAliveProbes": UNSIGNED,
    "Timestamping": ["off", "us", "ns", "usec", "nsec", "\u00b5s", "yes", "no", "", "ms"],
    "TCPCongestion": ["cubic", "reno", ""],
    **dict.fromkeys(
        (
            "ReusePort",
            "FreeBind",
            "Transparent",
            "KeepAlive",
            "NoDelay",
            "PassCredentials",
            "Accept",
            "Broadcast",
            "PassSecurity",
            "PassPacketInfo",
        ),
        BOOLEANS,
    ),
}
NAMES = ["gen.socket", "gen@inst.socket", "gen-a-b@x\\x2dy.socket", "g-h@.x.socket"]


def _line(key: str) -> st.SearchStrategy[str]:
    return st.sampled_from(VALUES[key]).map(lambda value: f"{key}={value}")


LINES = st.sampled_from(sorted(VALUES)).flatmap(_line)
# most units start with a port systemd accepts, so that most of them load and get compared
FIRST = st.sampled_from(["ListenStream=/run/gen/base.sock", "ListenStream=127.0.0.1:4200", ""])
SECTIONS = st.tuples(FIRST, st.lists(LINES, min_size=1, max_size=8)).map(
    lambda t: [line for line in (t[0], *t[1]) if line]
)


def _file_name(name: str) -> str:
    prefix, at, rest = name.partition("@")
    return f"{prefix}@{rest[rest.rindex('.') :]}" if at and not rest.startswith(".") else name


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(lines=SECTIONS, name=st.sampled_from(NAMES), user=st.booleans())
def test_a_generated_socket_section_loads_as_systemd_loads_it(
    lines: list[str], name: str, user: bool
) -> None:
    """Whatever the lines, the library and systemd agree on the loaded unit."""
    require_tool("systemd-analyze")
    text = "[Unit]\nDescription=generated\n\n[Socket]\n" + "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory(prefix="gen-") as tmp:
        runtime = Path(tmp) / "runtime"
        runtime.mkdir(mode=0o700)
        theirs = verify_unit(text, name, user=user, runtime_dir=str(runtime), workdir=tmp)
        path = Path(tmp) / _file_name(name)
        path.write_text(text)
        environ = {"XDG_RUNTIME_DIR": str(runtime), "HOME": "/root"}
        ours = library_view(path, name, "user" if user else "system", environ)
        assert disagreements(ours, theirs) == [], (text, theirs.stderr[-1500:])
