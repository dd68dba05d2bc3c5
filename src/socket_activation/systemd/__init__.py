"""systemd's protocols, one job per module.

LISTEN_FDS: ``environ`` (pure LISTEN_* parsing), ``listen_fds`` (are they ours; the
``sd_listen_fds`` pair), ``inherited`` (the fd edge), ``activation`` (the cached snapshot).
sd_notify: ``notify_message`` (pure rules), ``notify_socket`` (the NOTIFY_SOCKET grammar),
``notify_send`` (the sendmsg edge), ``notify`` (one helper per message). Then ``watchdog``,
``fdstore`` and ``numbers`` (libsystemd's integer parsing). The ``systemd.daemon`` drop-in
(public as :mod:`socket_activation.daemon`): ``daemon``, with ``cargs`` (the binding's C
argument rules), ``fdkind`` (the ``sd_is_*`` checks) and ``daemon_sockaddr`` (the address text
of ``is_socket_sockaddr``).

Internal: the public API is re-exported by :mod:`socket_activation`.
"""
