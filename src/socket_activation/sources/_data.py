"""SourceData: what one configuration source found, before validation.

A source only turns its input into plain values (the :class:`~socket_activation.config.
ServerConfig` field names as keys); :func:`socket_activation.sources.load_config` layers them.
``origins`` remembers where each field came from (an environment variable, ``file``,
``file:line``), so a validation error names the input the user has to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SourceData"]


@dataclass
class SourceData:
    """Values of one source, where each came from, and what the source warned about."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def set(self, key: str, value: Any, origin: str) -> None:
        """Record *value* for field *key*, found at *origin*."""
        self.values[key] = value
        self.origins[key] = origin
