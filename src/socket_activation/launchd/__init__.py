"""macOS launchd: the ctypes binding of launch_activate_socket ("not activated" elsewhere).

Internal: the public API is re-exported by :mod:`socket_activation`.
"""
