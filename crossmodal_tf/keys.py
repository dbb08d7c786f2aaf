"""Who reads which config key: each registered task, source and text type declares the keys it reads beyond
those every one of its kind reads; reads_key answers for one of them from those declarations."""

from __future__ import annotations

from typing import Iterable


def under(dotted: str, section: str) -> bool:
    """Whether a dotted key is `section` or inside it."""
    return dotted == section or dotted.startswith(section + ".")


def reads_key(own: Iterable[str], everyone: Iterable[Iterable[str]], dotted: str) -> bool:
    """Whether a registered object that declares `own` reads a key, when the objects of its kind declare
    `everyone` (its own among them): it reads what it declares, and every key none of them declares."""
    if any(under(dotted, key) for key in own):
        return True
    return not any(under(dotted, key) for declared in everyone for key in declared)
