"""Reading typed form values: an error message per field instead of an exception."""

from __future__ import annotations

import math


def optional_float(text: str, key: str, errors: dict[str, str]) -> float | None:
    """``text`` as a finite number, ``None`` when blank; otherwise records why under ``key``
    in ``errors`` and returns ``None``."""
    value = text.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        errors[key] = f"{value!r} is not a number"
        return None
    if not math.isfinite(number):
        errors[key] = f"{value!r} is not a finite number"
        return None
    return number
