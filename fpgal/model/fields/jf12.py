"""Regular Galactic magnetic field of Jansson & Farrar (2012), "JF12", and its divergence-free variant.

References
----------
* R. Jansson & G. R. Farrar, ApJ 757, 14 (2012) — the regular (coherent) field: a disk of eight
  logarithmic-spiral arms (pitch 11.5°) outside a 3–5 kpc azimuthal "molecular ring", a toroidal
  halo and an X-shaped poloidal halo field. Parameters as in Table 1 of the paper.
* J. Kleimann, T. Schorlepp, L. Merten & J. Becker Tjus, ApJ 877, 76 (2019) — a solenoidal
  version: the disk field is made to vanish smoothly at r₁ = 5 kpc and r₂ = 20 kpc over transition
  widths δ with the flux of the arms redistributed by an azimuthal correction term (their Eqs. 20–30),
  b₈ is recomputed so the net radial flux vanishes, and the X field's kink at the mid-plane is
  replaced by parabolic field lines for |z| < z_s (their Sect. 3.3).

Both follow the CRPropa 3 implementations (``JF12Field.cpp``, ``JF12FieldSolenoidal.cpp``),
reimplemented vectorized here. Galactocentric Cartesian kpc, Sun on the negative x axis, field in μG.

Note (regular version, as in CRPropa): the field vanishes at distances d ≥ 20 kpc, and the halo and
X parts vanish inside d ≤ 1 kpc; these cuts, and the flux mismatch at the ring/spiral interface at
r = 5 kpc, make the regular field *not* divergence-free (see :func:`fpgal.fields.divergence_diagnostic`).
"""
from __future__ import annotations

import math

import numpy as np

from ._cyl import cyl_to_cart, cylindrical
from .analytic import x_field_cyl
from .base import Field

_DEG = math.pi / 180.0

# ---- Table 1 of Jansson & Farrar (2012), as in CRPropa's JF12Field ------------------------------
PITCH_DEG = 11.5
R_ARMS_KPC = np.array([5.1, 6.3, 7.1, 8.3, 9.8, 11.4, 12.7, 15.5])     # r_{-x} of the arm boundaries
B_ARMS_MUG = np.array([0.1, 3.0, -0.9, -0.8, -2.0, -4.2, 0.0, 2.7])    # b_1 … b_8
B_RING_MUG = 0.1
H_DISK_KPC, W_DISK_KPC = 0.40, 0.27
B_NORTH_MUG, B_SOUTH_MUG = 1.4, -1.1
R_NORTH_KPC, R_SOUTH_KPC = 9.22, 17.0
W_HALO_KPC, Z0_HALO_KPC = 0.20, 5.3
B_X_MUG, THETA_X0_DEG, R_XC_KPC, R_X_KPC = 4.6, 49.0, 4.8, 2.9


def _logistic(x, x0, w):
    """JF12 transition L(x; x₀, w) = 1 / (1 + exp(−2(|x| − x₀)/w))."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-2.0 * (np.abs(x) - x0) / w))


def _logistic_c(x, x0, w):
    """1 − L(x; x₀, w) without cancellation."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(2.0 * (np.abs(x) - x0) / w))


class JF12(Field):
    """JF12 regular field (Jansson & Farrar 2012); ``solenoidal=True`` gives Kleimann et al. (2019).

    Parameters
    ----------
    solenoidal : use the divergence-free version of Kleimann et al. (2019).
    delta_kpc : width δ of the disk's inner/outer transition zones (solenoidal only), default 3 kpc.
    zs_kpc : half-height z_s of the parabolic X-field region (solenoidal only), default 0.5 kpc.
    """

    def __init__(self, solenoidal: bool = True, delta_kpc: float = 3.0, zs_kpc: float = 0.5):
        self.solenoidal = bool(solenoidal)
        delta, zs = float(delta_kpc), float(zs_kpc)
        if not (0.0 < delta < 7.5):
            raise ValueError(f"JF12: delta_kpc={delta_kpc!r} must lie in (0, 7.5) kpc (half of r2 - r1 = 15 kpc)")
        if not (zs > 0.0 and math.isfinite(zs)):
            raise ValueError(f"JF12: zs_kpc={zs_kpc!r} must be a positive finite number [kpc]")
        self.delta_kpc, self.zs_kpc = delta, zs
        pitch = PITCH_DEG * _DEG
        self._sin_p, self._cos_p = math.sin(pitch), math.cos(pitch)
        self._cot_p = 1.0 / math.tan(pitch)
        self._tan90mp = math.tan(math.pi / 2 - pitch)
        th = THETA_X0_DEG * _DEG
        self._sin_t, self._cos_t, self._tan_t = math.sin(th), math.cos(th), math.tan(th)
        if self.solenoidal:
            self._setup_solenoidal_disk()

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, xyz: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._evaluate_checked(xyz)

    def _evaluate_checked(self, xyz: np.ndarray) -> np.ndarray:
        r, cos_phi, sin_phi, z = cylindrical(xyz)
        d2 = r * r + z * z
        if self.solenoidal:
            Br_d, Bphi_d = self._disk_solenoidal(r, cos_phi, sin_phi, z, d2)
            Br_x, Bz_x = self._x_solenoidal(r, z, d2)
            Bphi_h = np.where((d2 > 1.0) & (d2 < 400.0), self._toroidal(r, z), 0.0)
        else:
            Br_d, Bphi_d = self._disk_regular(r, cos_phi, sin_phi, z)
            Br_x, Bz_x = self._x_regular(r, z)
            outside_core = d2 > 1.0
            Br_x = np.where(outside_core, Br_x, 0.0)
            Bz_x = np.where(outside_core, Bz_x, 0.0)
            Bphi_h = np.where(outside_core, self._toroidal(r, z), 0.0)
        B = cyl_to_cart(Br_d + Br_x, Bphi_d + Bphi_h, Bz_x, cos_phi, sin_phi)
        if not self.solenoidal:
            B[d2 >= 400.0] = 0.0         # CRPropa: regular field only for d < 20 kpc
        return B

    # ------------------------------------------------------------------ shared parts
    def _toroidal(self, r, z):
        """JF12 Eq. (7): B_φ = e^{−|z|/z₀} L(z; h, w) b_{N|S} (1 − L(r; r_{N|S}, w_h))."""
        north = z >= 0
        b = np.where(north, B_NORTH_MUG * _logistic_c(r, R_NORTH_KPC, W_HALO_KPC),
                     B_SOUTH_MUG * _logistic_c(r, R_SOUTH_KPC, W_HALO_KPC))
        return np.exp(-np.abs(z) / Z0_HALO_KPC) * _logistic(z, H_DISK_KPC, W_DISK_KPC) * b

    # ------------------------------------------------------------------ regular JF12
    def _disk_regular(self, r, cos_phi, sin_phi, z):
        """JF12 Eqs. (3)–(6): ring (3 < r < 5 kpc) and eight spiral arms (r ≥ 5 kpc), (B_r, B_φ)."""
        vert = _logistic_c(z, H_DISK_KPC, W_DISK_KPC)
        rs = np.where(r > 0, r, 1.0)
        ring = (r > 3.0) & (r < 5.0)
        spiral = r >= 5.0
        phi = np.arctan2(sin_phi, cos_phi)
        # r_{-x}: radius where the arm through (r, φ) crosses the negative x axis
        r_negx = rs * np.exp(-(phi - math.pi) / self._tan90mp)
        r_negx = np.where(r_negx > R_ARMS_KPC[-1], rs * np.exp(-(phi + math.pi) / self._tan90mp), r_negx)
        r_negx = np.where(r_negx > R_ARMS_KPC[-1], rs * np.exp(-(phi + 3 * math.pi) / self._tan90mp), r_negx)
        idx = np.searchsorted(R_ARMS_KPC, r_negx, side="right")     # first arm with r_negx < R_ARMS
        b_arm = B_ARMS_MUG[np.minimum(idx, R_ARMS_KPC.size - 1)]
        amp = np.where(spiral, b_arm, np.where(ring, B_RING_MUG, 0.0)) * (5.0 / rs) * vert
        B_r = np.where(spiral, amp * self._sin_p, 0.0)
        B_phi = np.where(spiral, amp * self._cos_p, amp)
        return B_r, B_phi

    def _x_regular(self, r, z):
        """JF12 X field (Eqs. 8–11), (B_r, B_z); B_r changes sign with z."""
        return x_field_cyl(r, z, B_X_MUG, THETA_X0_DEG, R_XC_KPC, R_X_KPC)

    # ------------------------------------------------------------------ Kleimann et al. (2019)
    def _setup_solenoidal_disk(self) -> None:
        """Arm boundary angles φ₀ at r₁, flux-corrected b₈ and the azimuthal integral's constants."""
        self._r1, self._r2 = 5.0, 20.0
        self._r1s, self._r2s = self._r1 + self.delta_kpc, self._r2 - self.delta_kpc
        phi0 = 0.0                              # reference angle of the φ-integral (arbitrary, see paper)
        arms = np.empty(11)
        arms[1:9] = math.pi - self._cot_p * np.log(R_ARMS_KPC / self._r1)
        arms[0] = arms[8] + 2 * math.pi
        arms[9] = arms[1] - 2 * math.pi
        arms[10] = arms[2] - 2 * math.pi
        b = np.empty(11)
        b[1:9] = B_ARMS_MUG
        # zero net radial flux through a circle: recompute b_8 (Kleimann et al. Eq. 24)
        flux1to7 = float(np.sum((arms[0:7] - arms[1:8]) * b[1:8]))
        b[8] = -flux1to7 / (arms[7] - arms[8])
        b[0], b[9], b[10] = b[8], b[1], b[2]
        coeff = np.zeros(10)
        for i in range(1, 10):
            coeff[i] = coeff[i - 1] + (b[i - 1] - b[i]) * arms[i - 1]
        idx0 = int(np.argmax(arms <= phi0))
        corr = coeff[idx0] + b[idx0] * phi0
        coeff[1:] -= corr
        self._phi0_arms, self._b_arms, self._phi_coeff = arms, b, coeff

    def _arm_index(self, r, cos_phi, sin_phi):
        """Index j ≥ 1 of the arm containing (r, φ): first j with φ₁ ≥ φ₀,j, φ₁ = φ − cot α ln(r/r₁) ∈ [−π, π]."""
        rs = np.where(r > 0, r, 1.0)
        L = self._cot_p * np.log(rs / self._r1)
        phi1 = np.arctan2(sin_phi * np.cos(L) - cos_phi * np.sin(L), cos_phi * np.cos(L) + sin_phi * np.sin(L))
        # φ₀,1 > φ₀,2 > … > φ₀,9: the index is 1 + the number of boundaries above φ₁
        idx = 1 + np.sum(phi1[:, None] < self._phi0_arms[None, 1:10], axis=1)
        return idx, phi1

    def _pq(self, r):
        """Transition polynomial p_δ(r) (→ r₁/r inside, 0 outside [r₁, r₂]) and q_δ = d(r p_δ)/dr · r₁/r₁."""
        r1, r2, r1s, r2s = self._r1, self._r2, self._r1s, self._r2s
        rs = np.where(r > 0, r, 1.0)
        outer = r >= r2s
        ra = np.where(outer, r2, r1)
        rb = np.where(outer, r2s, r1s)
        fakt = (ra / rb - 2.0) / (ra - rb) ** 2
        p_tr = (r1 / rb) * (2.0 - r / rb + fakt * (r - rb) ** 2)
        q_tr = (r1 / rb) * (2.0 - 2.0 * r / rb + fakt * (3.0 * r * r - 4.0 * r * rb + rb * rb))
        middle = (r > r1s) & (r < r2s)
        off = (r < r1) | (r > r2)
        p = np.where(off, 0.0, np.where(middle, r1 / rs, p_tr))
        q = np.where(off | middle, 0.0, q_tr)
        return p, q

    def _disk_solenoidal(self, r, cos_phi, sin_phi, z, d2):
        """Kleimann et al. (2019) Eqs. (25)–(27): B_r = p b_j sin α, B_φ = p b_j cos α − q H(φ₁) sin α."""
        active = (d2 < 400.0) & (r > self._r1) & (r < self._r2)
        idx, phi1 = self._arm_index(r, cos_phi, sin_phi)
        b_j = self._b_arms[idx]
        H = phi1 * b_j + self._phi_coeff[idx]
        p, q = self._pq(r)
        vert = _logistic_c(z, H_DISK_KPC, W_DISK_KPC)
        B_r = np.where(active, p * b_j * self._sin_p * vert, 0.0)
        B_phi = np.where(active, (p * b_j * self._cos_p - q * H * self._sin_p) * vert, 0.0)
        return B_r, B_phi

    def _x_solenoidal(self, r, z, d2):
        """Kleimann et al. (2019) Sect. 3.3: JF12 X field for |z| > z_s, parabolic lines below; (B_r, B_z)."""
        zs = self.zs_kpc
        absz = np.abs(z)
        tan_t = self._tan_t
        # --- |z| > z_s: the original X field
        Br_hi, Bz_hi = x_field_cyl(r, z, B_X_MUG, THETA_X0_DEG, R_XC_KPC, R_X_KPC)
        axis = r == 0.0
        Bz_axis = B_X_MUG / (1.0 + absz / tan_t / R_XC_KPC) ** 2
        Br_hi = np.where(axis, 0.0, Br_hi)
        Bz_hi = np.where(axis, Bz_axis, Bz_hi)
        # --- |z| ≤ z_s: parabolic field lines through (r0, z_s)
        r0c = R_XC_KPC + zs / tan_t
        s = zs - z * z / zs
        r0_in = r / (1.0 - s / (2.0 * (zs + R_XC_KPC * tan_t)))
        outer = r0_in >= r0c
        r0 = np.where(outer, r + s / (2.0 * tan_t), r0_in)
        use_in = r0 < r0c
        r0s = np.where(r0 > 0, r0, 1.0)
        rp_i = r0 * R_XC_KPC / r0c
        th_i = np.arctan(zs / np.where(use_in, r0 - rp_i, 1.0))
        fac_i = B_X_MUG * np.exp(-rp_i / R_X_KPC) * (R_XC_KPC / r0c) ** 2
        rp_o = r0 - zs / tan_t
        fac_o = B_X_MUG * np.exp(-rp_o / R_X_KPC) * (rp_o / r0s)
        br0 = np.where(use_in, fac_i * np.cos(th_i), fac_o * self._cos_t)
        bz0 = np.where(use_in, fac_i * np.sin(th_i), fac_o * self._sin_t)
        zz = 1.0 - (z / zs) ** 2
        f_in = 1.0 / (1.0 - zz / (2.0 + 2.0 * (R_XC_KPC * tan_t / zs))) ** 2
        rs = np.where(r > 0, r, 1.0)
        f_out = 1.0 + zs / (2.0 * rs * tan_t) * zz
        f = np.where(outer, f_out, f_in)
        Br_lo = z / zs * f * br0
        Bz_lo = bz0 * f
        low = absz <= zs
        Br = np.where(low, Br_lo, Br_hi)
        Bz = np.where(low, Bz_lo, Bz_hi)
        keep = d2 < 400.0
        return np.where(keep, Br, 0.0), np.where(keep, Bz, 0.0)
