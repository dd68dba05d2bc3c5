"""Zero-downtime restarts: spawning with sockets, the readiness socket, the handoff, the
supervisor (its generations bookkeeping and its event loop).

Internal: the public API is re-exported by :mod:`socket_activation`.
"""
