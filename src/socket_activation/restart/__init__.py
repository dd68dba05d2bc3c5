"""Zero-downtime restarts: spawning with sockets, the readiness socket, the handoff, the supervisor.

Internal: the public API is re-exported by :mod:`socket_activation`.
"""
