"""Unit-file syntax, in and out: parser, keys, values, specifiers; rendering units and plists.

Internal: the public API is re-exported by :mod:`socket_activation`.
"""
