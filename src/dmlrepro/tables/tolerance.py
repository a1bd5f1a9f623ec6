"""How far a regenerated number may lie from the paper's and still agree with it.

A spec's `tolerance` (workflow/schemas/paper_spec.schema.yaml) is a bare number (an absolute band in
the metric's unit) or a mapping with `absolute` and/or `relative` (a fraction of the reported value);
with both keys, a value passing either passes, so the band is the wider of the two.  A value compared
directly also agrees when it rounds to the number as printed: half a unit in the last decimal the
paper printed, read from the spec's literal ("0.60" → ±0.005), since the YAML loader turns 0.60
into the float 0.6 and repr() would read ±0.05.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    absolute: float | None = None
    relative: float | None = None

    @classmethod
    def from_spec(cls, value: float | dict) -> "Tolerance":
        if isinstance(value, dict):
            absolute, relative = value.get("absolute"), value.get("relative")
            return cls(None if absolute is None else float(absolute), None if relative is None else float(relative))
        return cls(absolute=float(value))

    def band(self, reference: float, printed: str | None = None) -> float:
        """The largest |measured − reference| that passes: the wider of the absolute band and
        `relative` × |reference|, and, with `printed`, half a unit of its last printed decimal."""
        limits = []
        if self.absolute is not None:
            limits.append(self.absolute)
        if self.relative is not None:
            limits.append(self.relative * abs(reference))
        if printed is not None:
            limits.append(printed_half_unit(printed))
        return max(limits) if limits else 0.0

    def describe(self, reference: float, printed: str | None = None) -> str:
        """The rule as a reader checks it, e.g. "absolute 1.0 or printed ±0.05"."""
        parts = []
        if self.absolute is not None:
            parts.append(f"absolute {self.absolute:g}")
        if self.relative is not None:
            parts.append(f"relative {self.relative:g} × {abs(reference):.4g}")
        if printed is not None:
            parts.append(f"printed {printed} ±{printed_half_unit(printed):g}")
        return " or ".join(parts)


def printed_half_unit(literal: str | float) -> float:
    """Half a unit in the last printed decimal of a number as written ("0.60" → 0.005, "165" → 0.5).

    Given a float rather than the literal, its shortest repr is read, which drops the trailing zeros
    the paper printed (0.60 → "0.6" → 0.05); pass the literal (dmlrepro.specs.reported_literals)."""
    text = literal if isinstance(literal, str) else repr(float(literal))
    text = text.strip().lstrip("+-")
    if "e" in text.lower():
        mantissa, exponent = text.lower().split("e")
        decimals = (len(mantissa.split(".")[1]) if "." in mantissa else 0) - int(exponent)
    else:
        decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0 ** -decimals


def printed_decimals(literal: str) -> int:
    """Decimals of a number as written ("165.00" → 2)."""
    text = literal.strip()
    return len(text.split(".")[1]) if "." in text and "e" not in text.lower() else 0
