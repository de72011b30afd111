"""Gradient-flow diagnostics: does a recurrent network's gradient vanish or explode, where,
and which remedy fits.

:func:`recording` captures every step's state and gates during a forward pass;
:func:`diagnose` runs one batch forward and backward under it and returns a
:class:`Diagnosis` (||dL/dh_t|| per step and layer, gradient norms per parameter, gate
saturation, recurrent spectra, a verdict and ranked advice).
"""

from rnnkit.diagnostics.measure import (
    CLOSED,
    EXPLODING,
    OPEN,
    VANISHING,
    CellFlow,
    Diagnosis,
    GateStats,
    Spectrum,
    diagnose,
)
from rnnkit.diagnostics.probe import CellRecord, Probe, recording

__all__ = [
    "CLOSED",
    "EXPLODING",
    "OPEN",
    "VANISHING",
    "CellFlow",
    "CellRecord",
    "Diagnosis",
    "GateStats",
    "Probe",
    "Spectrum",
    "diagnose",
    "recording",
]
