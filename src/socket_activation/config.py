"""ServerConfig: what a server listens on, as one frozen pydantic model.

Two ways to say where to listen:

- the simple fields of the original design: ``host``/``port`` (TCP) or ``uds`` (a Unix socket,
  ``/path`` or ``@abstract``), plus ``http3`` for a UDP twin on the same port;
- ``listen``: any number of :class:`ListenSpec` entries, each an address in the systemd
  ``Listen*=`` grammar with its own name and socket options, as a ``.socket`` unit has them.

When ``listen`` is given it is the whole list; otherwise :meth:`ServerConfig.listen_specs`
derives it from the simple fields. Sources (environment, TOML, unit files, plists) live in
``socket_activation.sources`` and all produce this model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from .launchd.activation import DEFAULT_NAMES as DEFAULT_LAUNCHD_NAMES
from .net.address import ListenAddress, Transport
from .net.bind import BindOptions

__all__ = ["BindIPv6Only", "FileMode", "ListenSpec", "ServerConfig"]

BindIPv6Only = Literal["default", "both", "ipv6-only"]


def _parse_mode(value: object) -> object:
    """File modes are octal: accept ``0o660``/``"0660"``/``"660"`` as well as ints."""
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        if not text or any(c not in "01234567" for c in text):
            raise ValueError(f"expected an octal file mode like '0660', got {value!r}")
        return int(text, 8)
    return value


FileMode = Annotated[
    int,
    BeforeValidator(_parse_mode),
    Field(ge=0, le=0o7777),
    PlainSerializer(lambda m: f"{m:04o}", return_type=str),
]


class ListenSpec(BaseModel):
    """One socket to listen on: an address, its fd name and its options.

    Options mirror systemd.socket(5); ``None`` means "the kernel's default" (or, for
    ``backlog`` and ``socket_mode``, the :class:`ServerConfig` value).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: ListenAddress
    name: str | None = None  # FileDescriptorName=; LISTEN_FDNAMES entry
    backlog: int | None = Field(None, ge=0)  # Backlog=0 is valid in a unit: listen(fd, 0)
    socket_mode: FileMode | None = None
    directory_mode: FileMode | None = None
    bind_ipv6_only: BindIPv6Only | None = None
    reuse_port: bool = False
    free_bind: bool = False
    transparent: bool = False
    bind_to_device: str | None = None
    keep_alive: bool | None = None
    no_delay: bool | None = None
    receive_buffer: int | None = Field(None, ge=0)
    send_buffer: int | None = Field(None, ge=0)
    defer_accept_sec: float | None = Field(None, ge=0)
    pass_credentials: bool = False
    socket_user: str | None = None
    socket_group: str | None = None
    accept: bool = False  # Accept=yes: one service instance per connection
    max_connections: int = Field(64, ge=0)  # MaxConnections=: Accept=yes connections at once
    broadcast: bool = False
    pass_security: bool = False
    pass_packet_info: bool = False
    priority: int | None = Field(None, ge=0)
    mark: int | None = Field(None, ge=0)
    ip_tos: int | None = Field(None, ge=0, le=255)
    ip_ttl: int | None = Field(None, ge=0)
    keep_alive_time_sec: float | None = Field(None, ge=0)
    keep_alive_interval_sec: float | None = Field(None, ge=0)
    keep_alive_probes: int | None = Field(None, ge=0)
    timestamping: Literal["off", "us", "ns"] = "off"
    tcp_congestion: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, (str, ListenAddress)):
            return {"address": data}
        return data

    @field_validator("receive_buffer", "send_buffer")
    @classmethod
    def _zero_is_unset(cls, size: int | None) -> int | None:
        # systemd applies ReceiveBuffer=/SendBuffer= only when > 0: 0 means "the kernel's"
        return size or None

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str | None) -> str | None:
        # fdname_is_valid (R19): printable ASCII without ':' and at most 255 bytes
        if name is not None and (
            len(name) > 255 or any(not (0x20 <= ord(c) < 0x7F) or c == ":" for c in name)
        ):
            raise ValueError(
                f"invalid fd name {name!r}: must be printable ASCII without ':', <= 255 chars"
            )
        return name

    def bind_options(self, config: ServerConfig) -> BindOptions:
        """The options to bind this socket with, falling back to *config*'s values."""
        return BindOptions(
            backlog=self.backlog if self.backlog is not None else config.backlog,
            socket_mode=self.socket_mode if self.socket_mode is not None else config.socket_mode,
            directory_mode=self.directory_mode,
            bind_ipv6_only=self.bind_ipv6_only or "both",
            reuse_port=self.reuse_port,
            free_bind=self.free_bind,
            transparent=self.transparent,
            bind_to_device=self.bind_to_device,
            keep_alive=self.keep_alive,
            no_delay=self.no_delay,
            receive_buffer=self.receive_buffer,
            send_buffer=self.send_buffer,
            defer_accept=self.defer_accept_sec,
            pass_credentials=self.pass_credentials,
            socket_user=self.socket_user,
            socket_group=self.socket_group,
            broadcast=self.broadcast,
            pass_security=self.pass_security,
            pass_packet_info=self.pass_packet_info,
            priority=self.priority,
            mark=self.mark,
            ip_tos=self.ip_tos,
            ip_ttl=self.ip_ttl,
            keep_alive_time=self.keep_alive_time_sec,
            keep_alive_interval=self.keep_alive_interval_sec,
            keep_alive_probes=self.keep_alive_probes,
            timestamping=self.timestamping,
            tcp_congestion=self.tcp_congestion,
        )


class ServerConfig(BaseModel):
    """Where and how a server listens. Frozen; validation errors name the field and value."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    uds: str | None = None
    backlog: int = Field(2048, ge=1)
    socket_mode: FileMode = 0o660
    workers: int = Field(1, ge=1)
    http3: bool = False
    listen: tuple[ListenSpec, ...] = ()
    # names asked of launchd (launch_activate_socket) when systemd passed nothing
    launchd_names: tuple[str, ...] = DEFAULT_LAUNCHD_NAMES

    @field_validator("uds")
    @classmethod
    def _check_uds(cls, uds: str | None) -> str | None:
        if uds is None or uds == "":
            return None
        address = ListenAddress.parse(uds)  # raises AddressError (a ValueError) with the text
        if not address.is_unix:
            raise ValueError(f"uds must be a /path or @abstract name, got {uds!r}")
        return uds

    @field_validator("host")
    @classmethod
    def _check_host(cls, host: str) -> str:
        if any(c.isspace() for c in host) or "/" in host:
            raise ValueError(f"invalid host {host!r}")
        return host

    @property
    def names_addresses(self) -> bool:
        """True when the config says where to listen (not just the defaults)."""
        return bool(self.listen) or bool({"host", "port", "uds"} & self.model_fields_set)

    def primary_address(self, transport: Transport = Transport.STREAM) -> ListenAddress:
        """The address of the simple fields: ``uds`` if set, else ``host:port``."""
        return ListenAddress.from_host_port(self.host, self.port, self.uds, transport)

    def listen_specs(self) -> tuple[ListenSpec, ...]:
        """Every socket to listen on, in order: ``listen`` if given, else the simple fields
        (a stream socket, plus its UDP twin when ``http3`` is set)."""
        if self.listen:
            return self.listen
        specs = [ListenSpec(address=self.primary_address())]
        if self.http3 and not self.uds:
            specs.append(ListenSpec(address=self.primary_address(Transport.DATAGRAM)))
        return tuple(specs)
