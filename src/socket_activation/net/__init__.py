"""Plain sockets: the listen-address grammar, the safe bind, and what an fd is.

Internal: the public API is re-exported by :mod:`socket_activation`.
"""
