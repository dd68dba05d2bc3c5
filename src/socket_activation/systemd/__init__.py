"""systemd's protocols: LISTEN_FDS (pure parsing, the fd edge), sd_notify, watchdog, fd store.

Internal: the public API is re-exported by :mod:`socket_activation`.
"""
