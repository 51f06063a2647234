"""migralink linkage: probabilistic linkage of pseudonymized records into persons."""

from __future__ import annotations

__all__: list[str] = []
