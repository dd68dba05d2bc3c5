"""``python -m socket_activation`` runs the command-line tool."""

from socket_activation.cli import main

raise SystemExit(main())
