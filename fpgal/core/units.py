"""Physical units and constants of fpgal — the one place where numbers with units live.

Convention: internal arithmetic is CGS (cm, s, g, erg) with energies in GeV and positions in kpc.
A name ending in ``_<unit>`` states the unit of the value (``kpc_cm`` = one kpc in cm).
Values: IAU 2012 astronomical unit / parsec definition, CODATA 2018 constants, PDG 2024 proton mass.
"""
from __future__ import annotations

import math

# --- length -------------------------------------------------------------------------------
cm: float = 1.0
m_cm: float = 100.0
au_cm: float = 1.495978707e13                      # IAU 2012 B2 (exact)
pc_cm: float = au_cm * 648000.0 / math.pi          # IAU 2015 B2: 1 pc = 648000/pi au
kpc_cm: float = 1.0e3 * pc_cm
# --- time ---------------------------------------------------------------------------------
s: float = 1.0
yr_s: float = 365.25 * 86400.0                     # Julian year
Myr_s: float = 1.0e6 * yr_s
# --- energy -------------------------------------------------------------------------------
GeV: float = 1.0
MeV_GeV: float = 1.0e-3
TeV_GeV: float = 1.0e3
PeV_GeV: float = 1.0e6
eV_erg: float = 1.602176634e-12                    # CODATA 2018 (exact)
GeV_erg: float = 1.0e9 * eV_erg
# --- magnetic field -----------------------------------------------------------------------
G: float = 1.0
muG_G: float = 1.0e-6
# --- cross section ------------------------------------------------------------------------
mb_cm2: float = 1.0e-27
# --- constants ----------------------------------------------------------------------------
c_cm_s: float = 2.99792458e10                      # exact
m_p_GeV: float = 0.93827208816                     # proton rest energy, CODATA 2018
m_p_g: float = 1.67262192369e-24
sr_full_sky: float = 4.0 * math.pi
# --- the Sun (galactocentric Cartesian, Sun on the negative x axis) ---------------------------
sun_distance_kpc: float = 8.5                      # R⊙ of the reference study and CRPropa's source models
sun_position_kpc: tuple = (-sun_distance_kpc, 0.0, 0.0)   # library default; a study's [observer] overrides it


def kpc_to_cm(length_kpc):
    """Length in kpc → cm."""
    return length_kpc * kpc_cm


def cm_to_kpc(length_cm):
    """Length in cm → kpc."""
    return length_cm / kpc_cm
