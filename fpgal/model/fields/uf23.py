"""Coherent Galactic magnetic field of Unger & Farrar (2024), "UF23" — all eight model variants.

Reference: M. Unger & G. R. Farrar, ApJ 970, 95 (2024), arXiv:2311.12120; parameter values and the
numerical conventions follow the authors' C++ reference code (MichaelUnger/GalacticMagneticFieldUF23,
``UF23Field.cc``), reimplemented here vectorized over points. Equation numbers refer to the paper.

Coordinates: galactocentric Cartesian kpc, x axis pointing *away* from the Sun (Sun on the negative
x axis), z towards Galactic north — the convention of the authors' code and of fpgal. Field in μG.
On the z axis (r = 0) the azimuth is taken as φ = 0, as in the reference code, so the toroidal halo
gives B = (0, B_φ, 0) there (a measure-zero discontinuity, kept for agreement with the reference).

Components (the field is the sum of a disk and a halo part, zero beyond ``max_radius_kpc``):

* spiral disk (all models but ``spur``), Eqs. (10)–(14): with φ₀ = φ − ln(r/r_ref)/tan α,
  r_ref = 5 kpc, B = b(φ₀) h_d(z) g_d(r) (r_ref/r) (sin α r̂ + cos α φ̂),
  b(φ₀) = Σ_{m=1..3} B_m cos(m(φ₀ − φ_m)), h_d = 1 − σ(|z|; z_d, w_d),
  g_d = (1 − e^{−r²/kpc²}) σ(r; 5, 0.5) (1 − σ(r; 20, 0.5)), σ(x; x₀, w) = 1/(1 + e^{−(x−x₀)/w});
* local spur (``spur``), Eqs. (15)–(18): one Gaussian arm segment around the solar radius;
* toroidal halo (all but ``twistX``), Eq. (21): B_φ = B_N|S (1 − σ(r; r_t, w_t)) σ(|z|; z_d, w_d) e^{−|z|/z_t};
* poloidal "X" halo, Eqs. (28)–(36) with p = n (Ferrière & Terral 2014 family): field lines
  through the mid-plane radius a(r, z), B_z(a) = B_X (1 − σ(a; r_X, w_X)) or B_X e^{−a/r_X} (``expX``),
  divergence-free by construction;
* twisted X halo (``twistX``), Eqs. (43)–(47): the X field wound up by differential rotation for
  a time t, adding B_φ = t (B_z Δ_z + B_r Δ_r).
"""
from __future__ import annotations

import math

import numpy as np

from ...core import units
from ._cyl import cyl_to_cart, cylindrical, sigmoid, sigmoid_c
from .base import Field

MODELS: tuple[str, ...] = ("base", "neCL", "expX", "spur", "cre10", "synCG", "twistX", "nebCor")

_DEG = math.pi / 180.0
_GPC_KPC = 1.0e6
#: 1 km/s in kpc/Myr (the unit system of the reference code: kpc, Myr).
_KM_S_KPC_MYR = 1.0e5 * units.Myr_s / units.kpc_cm

# Table 3 of UF23 (values as in the authors' UF23Field.cc). Angles in degrees, lengths in kpc,
# fields in μG, twisting time in Myr. "striation" only matters for the random field, kept for info.
_PARAMS: dict[str, dict[str, float]] = {
    "base": dict(B1=1.0878565e+00, B2=2.6605034e+00, B3=3.1166311e+00, diskH=7.9408965e-01,
                 phase1=2.6316589e+02, phase2=9.7782269e+01, phase3=3.5112281e+01, pitch=1.0106900e+01,
                 diskW=1.0720909e-01, polB=9.7775487e-01, polP=1.4266186e+00, polR=7.2925417e+00,
                 polW=1.1188158e-01, polZ=4.4597373e+00, striation=3.4557571e-01, torBN=3.2556760e+00,
                 torBS=-3.0914569e+00, torR=1.0193815e+01, torW=1.6936993e+00, torZ=4.0242749e+00),
    "cre10": dict(B1=1.2035697e+00, B2=2.7478490e+00, B3=3.2104342e+00, diskH=8.0844932e-01,
                  phase1=2.6515882e+02, phase2=9.8211313e+01, phase3=3.5944588e+01, pitch=1.0162759e+01,
                  diskW=1.0824003e-01, polB=9.6938453e-01, polP=1.4150957e+00, polR=7.2987296e+00,
                  polW=1.0923051e-01, polZ=4.5748332e+00, striation=2.4950386e-01, torBN=3.7308133e+00,
                  torBS=-3.5039958e+00, torR=1.0407507e+01, torW=1.7398375e+00, torZ=2.9272800e+00),
    "nebCor": dict(B1=1.4081935e+00, B2=3.5292400e+00, B3=4.1290147e+00, diskH=8.1151971e-01,
                   phase1=2.6447529e+02, phase2=9.7572660e+01, phase3=3.6403798e+01, pitch=1.0151183e+01,
                   diskW=1.1863734e-01, polB=1.3485916e+00, polP=1.3414395e+00, polR=7.2473841e+00,
                   polW=1.4318227e-01, polZ=4.8242603e+00, striation=3.8610837e-10, torBN=4.6491142e+00,
                   torBS=-4.5006610e+00, torR=1.0205288e+01, torW=1.7004868e+00, torZ=3.5557767e+00),
    "neCL": dict(B1=1.4259645e+00, B2=1.3543223e+00, B3=3.4390669e+00, diskH=6.7405199e-01,
                 phase1=1.9961898e+02, phase2=1.3541461e+02, phase3=6.4909767e+01, pitch=1.1867859e+01,
                 diskW=6.1162799e-02, polB=9.8387831e-01, polP=1.6773615e+00, polR=7.4084361e+00,
                 polW=1.4168192e-01, polZ=3.6521188e+00, striation=3.3600213e-01, torBN=2.6256593e+00,
                 torBS=-2.5699466e+00, torR=1.0134257e+01, torW=1.1547728e+00, torZ=4.5585463e+00),
    "spur": dict(B1=-4.2993328e+00, diskH=7.5019749e-01, phase1=1.5589875e+02, pitch=1.2074432e+01,
                 diskW=1.2263120e-01, polB=9.9302987e-01, polP=1.3982374e+00, polR=7.1973387e+00,
                 polW=1.2262244e-01, polZ=4.4853270e+00, spurCenter=1.5718686e+02, spurLength=3.1839577e+01,
                 spurWidth=1.0318114e+01, striation=3.3022369e-01, torBN=2.9286724e+00, torBS=-2.5979895e+00,
                 torR=9.7536425e+00, torW=1.4210055e+00, torZ=6.0941229e+00),
    "synCG": dict(B1=8.1386878e-01, B2=2.0586930e+00, B3=2.9437335e+00, diskH=6.2172353e-01,
                  phase1=2.2988551e+02, phase2=9.7388282e+01, phase3=3.2927367e+01, pitch=9.9034844e+00,
                  diskW=6.6517521e-02, polB=8.0883734e-01, polP=1.5820957e+00, polR=7.4625235e+00,
                  polW=1.5003765e-01, polZ=3.5338550e+00, striation=6.3434763e-01, torBN=2.3991193e+00,
                  torBS=-2.0919944e+00, torR=9.4227834e+00, torW=9.1608418e-01, torZ=5.5844594e+00),
    "twistX": dict(B1=1.3741995e+00, B2=2.0089881e+00, B3=1.5212463e+00, diskH=9.3806180e-01,
                   phase1=2.3560316e+02, phase2=1.0189856e+02, phase3=5.6187572e+01, pitch=1.2100979e+01,
                   diskW=1.4933338e-01, polB=6.2793114e-01, polP=2.3292519e+00, polR=7.9212358e+00,
                   polW=2.9056201e-01, polZ=2.6274437e+00, striation=7.7616317e-01, twistTime_Myr=5.4733549e+01),
    "expX": dict(B1=9.9258148e-01, B2=2.1821124e+00, B3=3.1197345e+00, diskH=7.1508681e-01,
                 phase1=2.4745741e+02, phase2=9.8578879e+01, phase3=3.4884485e+01, pitch=1.0027070e+01,
                 diskW=9.8524736e-02, polA=6.1938701e+00, polB=5.8357990e+00, polP=1.9510779e+00,
                 polR=2.4994376e+00, polXi=2.0926122e+01, striation=5.1440500e-01, torBN=2.7077434e+00,
                 torBS=-2.5677104e+00, torR=1.0134022e+01, torW=2.0956159e+00, torZ=5.4564991e+00),
}


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise ValueError(f"UF23: unknown model {model!r}; expected one of {', '.join(MODELS)}")
    return model


class UF23(Field):
    """UF23 coherent field (Unger & Farrar 2024), one of ``UF23.MODELS``.

    Parameters
    ----------
    model : "base", "neCL", "expX", "spur", "cre10", "synCG", "twistX" or "nebCor" (Table 2 of UF23).
    max_radius_kpc : the field is zero at galactocentric distance |x| > max_radius_kpc
        (default 30 kpc, as in the reference code).
    """

    MODELS = MODELS

    def __init__(self, model: str = "base", max_radius_kpc: float = 30.0):
        self.model = _check_model(model)
        R = float(max_radius_kpc)
        if not (R > 0 and math.isfinite(R)):
            raise ValueError(f"UF23: max_radius_kpc={max_radius_kpc!r} must be a positive finite number [kpc]")
        self.max_radius_kpc = R
        p = dict(_PARAMS[model])
        self.params = p
        pitch = p["pitch"] * _DEG
        self._sin_pitch, self._cos_pitch, self._tan_pitch = math.sin(pitch), math.cos(pitch), math.tan(pitch)
        # poloidal halo: a → ∞ (1 Gpc) for all but expX (Eq. 38); expX fits ξ with z = a tan ξ
        self._polA = p.get("polA", _GPC_KPC)
        self._polZ = self._polA * math.tan(p["polXi"] * _DEG) if model == "expX" else p["polZ"]
        # disk harmonics: (B_m, cos(m φ_m), sin(m φ_m))
        self._harmonics = [(p[f"B{m}"], math.cos(m * p[f"phase{m}"] * _DEG), math.sin(m * p[f"phase{m}"] * _DEG))
                           for m in (1, 2, 3) if f"B{m}" in p and model != "spur"]

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, xyz: np.ndarray) -> np.ndarray:
        B = np.zeros_like(xyz)
        inside = np.einsum("ij,ij->i", xyz, xyz) <= self.max_radius_kpc ** 2
        if not np.any(inside):
            return B
        pts = xyz if inside.all() else xyz[inside]
        r, cos_phi, sin_phi, z = cylindrical(pts)
        Br, Bphi, Bz = self._disk(r, cos_phi, sin_phi, z)
        hr, hphi, hz = self._halo(r, z)
        Bi = cyl_to_cart(Br + hr, Bphi + hphi, Bz + hz, cos_phi, sin_phi)
        if inside.all():
            return Bi
        B[inside] = Bi
        return B

    def _disk(self, r, cos_phi, sin_phi, z):
        if self.model == "spur":
            return self._spur(r, cos_phi, sin_phi, z)
        return self._spiral(r, cos_phi, sin_phi, z)

    def _halo(self, r, z):
        Br, Bz = self._poloidal(r, z)
        if self.model == "twistX":
            return Br, self._twist_phi(r, z, Br, Bz), Bz
        return Br, self._toroidal(r, z), Bz

    def _spiral(self, r, cos_phi, sin_phi, z):
        """Eqs. (10)–(14): grand-design spiral disk with three azimuthal harmonics."""
        p = self.params
        r_ref = 5.0
        on_axis = r <= 0.0
        rs = np.where(on_axis, 1.0, r)
        hdz = sigmoid_c(np.abs(z), p["diskH"], p["diskW"])                         # Eq. (13)
        # Eq. (14) times r_ref / r:  (1 − exp(−r²)) / r  σ(r; 5, 0.5) (1 − σ(r; 20, 0.5))
        g = -np.expm1(-rs * rs) / rs * sigmoid(rs, 5.0, 0.5) * sigmoid_c(rs, 20.0, 0.5) * r_ref
        # φ₀ = φ − ln(r/r_ref)/tan α (Eq. 12); cos/sin of φ₀ via the angle-difference formula
        L = np.log(rs / r_ref) / self._tan_pitch
        cL, sL = np.cos(L), np.sin(L)
        c1 = cos_phi * cL + sin_phi * sL
        s1 = sin_phi * cL - cos_phi * sL
        c2, s2 = c1 * c1 - s1 * s1, 2.0 * s1 * c1
        c3, s3 = c1 * c2 - s1 * s2, s1 * c2 + c1 * s2
        b = np.zeros_like(r)
        for m, (Bm, cph, sph) in enumerate(self._harmonics, start=1):   # Eq. (10): cos(m(φ₀ − φ_m))
            cm, sm = ((c1, s1), (c2, s2), (c3, s3))[m - 1]
            b += Bm * (cm * cph + sm * sph)
        amp = np.where(on_axis, 0.0, b * hdz * g)                                  # Eq. (11)
        return amp * self._sin_pitch, amp * self._cos_pitch, np.zeros_like(r)

    def _spur(self, r, cos_phi, sin_phi, z):
        """Eqs. (15)–(18): a single local arm segment ('spur') near the solar circle."""
        p = self.params
        r_ref = 8.2
        two_pi = 2.0 * math.pi
        phi_ref = p["phase1"] * _DEG
        on_axis = r <= 0.0
        rs = np.where(on_axis, 1.0, r)
        phi = np.arctan2(sin_phi, cos_phi)
        phi = np.where(phi < 0, phi + two_pi, phi)
        # pick the winding of the reference spiral r = r_ref exp((φ − φ_ref + 2πi) tan α) closest to r
        dist = np.stack([np.abs(rs - r_ref * np.exp((phi - phi_ref + i * two_pi) * self._tan_pitch))
                         for i in (-1, 0, 1)])
        best_is_zero = np.argmin(dist, axis=0) == 1           # ties resolve to the first (lowest i)
        phi0 = phi - np.log(rs / r_ref) / self._tan_pitch
        dphi0 = _delta_phi(phi_ref, phi0)
        B = p["B1"] * np.exp(-0.5 * (dphi0 / (p["spurWidth"] * _DEG)) ** 2)       # Eq. (16)
        dphic = _delta_phi(p["spurCenter"] * _DEG, phi)
        gS = sigmoid_c(np.abs(dphic), p["spurLength"] * _DEG, 5.0 * _DEG)          # Eq. (18)
        hd = sigmoid_c(np.abs(z), p["diskH"], p["diskW"])                          # Eq. (13)
        bS = np.where(best_is_zero & ~on_axis, r_ref / rs * B * hd * gS, 0.0)      # Eq. (17)
        return bS * self._sin_pitch, bS * self._cos_pitch, np.zeros_like(r)

    def _toroidal(self, r, z):
        """Eq. (21): B_φ = B_N|S (1 − σ(r; r_t, w_t)) σ(|z|; z_d, w_d) exp(−|z|/z_t)."""
        p = self.params
        absz = np.abs(z)
        b0 = np.where(z >= 0, p["torBN"], p["torBS"])
        return (b0 * sigmoid_c(r, p["torR"], p["torW"]) * sigmoid(absz, p["diskH"], p["diskW"])
                * np.exp(-absz / p["torZ"]))

    def _poloidal(self, r, z):
        """Eqs. (28)–(36) for p = n: X-shaped poloidal halo, returns (B_r, B_z).

        The field line through (r, z) crosses the plane at radius a with
        a^p = 2 a₀^p r^p / (t₁ + t₀), t₀ = a₀^p + c|z|^p − r^p, t₁ = √(t₀² + 4 a₀^p r^p),
        c = (a₀/z_p)^p; B_z(a) = B_X f(a), f = 1 − σ(a; r_X, w_X) (or e^{−a/r_X} for expX), and
        B_r = B_z(a) c a (a/r) sgn(z) |z|^{p−1} / t₁,  B_z = B_z(a) (r/a)^{p−2} (a^p + a₀^p)/t₁.
        """
        prm = self.params
        pexp = prm["polP"]
        A, Zp = self._polA, self._polZ
        c = (A / Zp) ** pexp
        a0p = A ** pexp
        with np.errstate(divide="ignore"):
            rp = r ** pexp
            absz = np.abs(z)
            abszp = absz ** pexp
        t0 = a0p + c * abszp - rp
        t1 = np.sqrt(t0 * t0 + 4.0 * a0p * rp)
        # q = a^p / r^p = 2 a0^p / (t1 + t0); for t0 < 0 use the cancellation-free (t1 − t0)/(2 r^p)
        neg = t0 < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(neg, (t1 - t0) / (2.0 * np.where(neg, rp, 1.0)), 2.0 * a0p / (t1 + t0))
        ap = q * rp
        a = ap ** (1.0 / pexp)
        if self.model == "expX":
            radial = np.exp(-a / prm["polR"])                                         # Eq. (32)
        else:
            radial = sigmoid_c(a, prm["polR"], prm["polW"])                            # Eq. (29)
        Bzz = prm["polB"] * radial                                                    # Eq. (28)
        r_over_a = q ** (-1.0 / pexp)
        sign_z = np.where(z < 0, -1.0, 1.0)
        Br = Bzz * c * a / r_over_a * sign_z * absz ** (pexp - 1.0) / t1                # Eq. (35)
        Bz = Bzz * r_over_a ** (pexp - 2.0) * (ap + a0p) / t1                         # Eq. (36)
        return Br, Bz

    def _twist_phi(self, r, z, Br, Bz):
        """Eqs. (43)–(47): azimuthal field of the X halo twisted by differential rotation."""
        t_Myr = self.params["twistTime_Myr"]
        v0 = -240.0 * _KM_S_KPC_MYR          # rotation speed [kpc/Myr] (fit to Reid et al. 2014)
        r0, z0 = 1.6, 10.0                   # radial scale, vertical gradient scale (Levine+08) [kpc]
        on_axis = r <= 0.0
        rs = np.where(on_axis, 1.0, r)
        fr = -np.expm1(-rs / r0)                                                       # Eq. (43)
        arg = 2.0 * np.abs(z) / z0
        with np.errstate(over="ignore"):
            t0 = np.exp(arg)
            gz = 2.0 / (1.0 + t0)                                                      # Eq. (44)
            sign_z = np.where(z < 0, -1.0, 1.0)
            dz = np.where(np.isfinite(t0), -sign_z * v0 * fr / z0 * t0 * gz * gz, 0.0)  # Eq. (46)
        dr = v0 * ((1.0 - fr) / r0 - fr / rs) * gz                                     # Eq. (47)
        return np.where(on_axis, 0.0, (Bz * dz + Br * dr) * t_Myr)                     # Eq. (45)


def _delta_phi(phi0, phi1):
    """Angle in [0, π] between the directions φ₀ and φ₁ (as acos of their dot product)."""
    return np.arccos(np.clip(np.cos(phi1) * np.cos(phi0) + np.sin(phi1) * np.sin(phi0), -1.0, 1.0))
