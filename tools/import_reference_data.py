"""Convert published reference tables into the fpgal table format shipped in ``fpgal/core/data``.

    python tools/import_reference_data.py /path/to/shared/data            # writes fpgal/core/data/...
    python tools/import_reference_data.py /path/to/shared/data --check    # compares, writes nothing

Reads ``cosmic_rays/``, ``gamma_rays/`` and ``neutrinos/`` of the given folder (the layout and
sources are described in its README.md) and writes one table per file in the fpgal format
(``docs/data.md``). Numbers are copied exactly (each value reads back as the same double); units
are stated in the header, never converted here. Cosmic-ray tables in the CRDB export layout
(``#X Quantity:`` … ``#Columns: x, y, y statistical errors, y systematic errors``) convert without
an entry in the catalogue below (new CRDB tables just work); the catalogue adds the paper citation
and the repository the export came from. Every other file needs a catalogue entry. ``gmf/`` and
``gas/`` hold test reference values (copied to ``tests/data``), not run-time data, and are skipped.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from fpgal.data import FORMAT, read_table, write_table  # noqa: E402

# ------------------------------------------------------------------------------------ provenance

KISS = "carmeloevoli/KISS-CosmicRayDataBase"
CR_SPECTRUM = "carmeloevoli/The_CR_Spectrum"
SOURCE_H = (f"the public repositories {KISS} (kiss_tables/) and {CR_SPECTRUM} (data/protons/ at commit "
            "fa788cd8)")
SOURCE_HE = f"the public repository {KISS}, kiss_tables/ at commit c582d77e"
SOURCE_AMS2015 = f"the public repository {KISS}, data/H_AMS02_CRDB.txt at commit ee187e39"
SOURCE_GAMMA = f"the public repository {CR_SPECTRUM}, data/source/"
SOURCE_NU = f"the public repository {CR_SPECTRUM}, data/source/ at commit f7fba9c8"

# raw file name → (paper, extra comment); papers as listed in the shared data README
CR_PAPERS = {
    "AMS-02-2015_H_rigidity.txt": ("AMS-02 Collaboration, PRL 114, 171103 (2015)",
                                   "data taking 2011/05-2013/11"),
    "AMS-02-2021_H_rigidity.txt": ("AMS-02 Collaboration, Phys. Rep. 894, 1 (2021)", ""),
    "PAMELA_H_rigidity.txt": ("PAMELA Collaboration, Science 332, 69 (2011)", ""),
    "CALET_H_kineticEnergy.txt": ("CALET Collaboration, PRL 129, 101102 (2022)", ""),
    "DAMPE-2019_H_kineticEnergy.txt": ("DAMPE Collaboration, Sci. Adv. 5, eaax3793 (2019)",
                                       "statistical errors are rounded to 0 in this export"),
    "DAMPE-2025_H_kineticEnergy.txt": ("DAMPE Collaboration, Nature 653, 52 (2026)", ""),
    "ISS-CREAM_H_kineticEnergy.txt": ("ISS-CREAM Collaboration, ApJ 940, 107 (2022)", ""),
    "CREAM_H_kineticEnergy.txt": ("CREAM-III, ApJ 839, 5 (2017)", ""),
    "NUCLEON_H_totalEnergy.txt": ("NUCLEON Collaboration, Adv. Space Res. 64, 2546 (2019)", ""),
    "IceTop_IceCube_SIBYLL-2.1_H_totalEnergy.txt": ("IceCube Collaboration (IceTop/IceCube), PRD 100, 082002 "
                                                    "(2019)", "hadronic model SIBYLL-2.1"),
    "GRAPES-3_H_totalEnergy.txt": ("GRAPES-3 Collaboration, PRL 132, 051002 (2024)", ""),
    **{f"LHAASO_{m}_H_totalEnergy.txt": ("LHAASO Collaboration, proton spectrum around the knee, "
                                         "arXiv:2505.14447 / arXiv:2511.05013", f"hadronic model {m}")
       for m in ("QGSJET-II-04", "EPOS-LHC", "SIBYLL-2.3d")},
    "AMS-02_He_rigidity.txt": ("AMS-02 Collaboration, Phys. Rep. 894, 1 (2021)", ""),
    "PAMELA_He_rigidity.txt": ("PAMELA Collaboration, Science 332, 69 (2011)", ""),
    "CALET_He_kineticEnergy.txt": ("CALET Collaboration, PRL 130, 171002 (2023)", ""),
    "DAMPE_He_kineticEnergy.txt": ("DAMPE Collaboration, Nature 653, 52 (2026)", ""),
    "CREAM_He_kineticEnergyPerNucleon.txt": ("CREAM-III, ApJ 839, 5 (2017)", ""),
    "NUCLEON_He_totalEnergy.txt": ("NUCLEON Collaboration, Adv. Space Res. 64, 2546 (2019)", ""),
    "IceTop_IceCube_SIBYLL-2.1_He_totalEnergy.txt": ("IceCube Collaboration (IceTop/IceCube), PRD 100, 082002 "
                                                     "(2019)", "hadronic model SIBYLL-2.1"),
    **{f"LHAASO_{m}_He_totalEnergy.txt": ("LHAASO Collaboration, helium spectrum around the knee, "
                                          "arXiv:2511.05013", f"hadronic model {m}")
       for m in ("QGSJET-II-04", "EPOS-LHC", "SIBYLL-2.3d")},
}

EXPERIMENTS = {"AMS-02-2015_H_rigidity.txt": "AMS-02"}   # files whose header does not name the experiment

# CR abscissa (CRDB name) → (units of x, units of the flux per unit x, words)
CR_ABSCISSAE = {
    "rigidity": ("GV", "GV^-1 m^-2 s^-1 sr^-1", "rigidity"),
    "kineticEnergy": ("GeV", "GeV^-1 m^-2 s^-1 sr^-1", "kinetic energy per particle"),
    "kineticEnergyPerNucleon": ("GeV/n", "(GeV/n)^-1 m^-2 s^-1 sr^-1", "kinetic energy per nucleon"),
    "totalEnergy": ("GeV", "GeV^-1 m^-2 s^-1 sr^-1", "total energy per particle"),
}
CR_COLUMNS = ("x", "flux", "stat_lo", "stat_hi", "sys_lo", "sys_hi")
CR_ERRORS = ("stat_lo/stat_hi, sys_lo/sys_hi: absolute statistical and systematic 1-sigma errors of the flux "
             "below/above the value")
# named-column layout (AMS-02 2015): raw header token → fpgal column
NAMED_CR = {"<e>": "x", "<r>": "x", "elo": "x_lo", "rlo": "x_lo", "eup": "x_hi", "rup": "x_hi", "y": "flux",
            "ystat_lo": "stat_lo", "ystat_up": "stat_hi", "ysyst_lo": "sys_lo", "ysyst_up": "sys_hi",
            "yerrtot_lo": "tot_lo", "yerrtot_up": "tot_hi"}
NAMED_ORDER = CR_COLUMNS + ("x_lo", "x_hi", "tot_lo", "tot_hi")


@dataclass(frozen=True)
class Entry:
    """How one non-CRDB file converts: its raw columns (in order) → fpgal columns, and the header."""

    out: str
    raw_columns: tuple[str, ...]
    columns: tuple[str, ...]
    meta: dict
    raw_header: str = ""          # a line the raw header must contain (guards against a changed layout)
    norm: tuple[float, float, float] | None = None   # best-fit normalisation, −error, +error (neutrinos)


LHAASO_PAPER = ("LHAASO Collaboration (Cao et al.), PRL 131, 151001 (2023), arXiv:2305.05372, "
                "Supplemental Material Table {table}")


def _lhaaso_entry(region: str, table: str, longitudes: str) -> Entry:
    """LHAASO-KM2A diffuse intensity of one sky region (Supplemental Tables S2 inner, S3 outer)."""
    return Entry(
        out=f"gamma_rays/LHAASO-KM2A_2023_{region}.txt",
        raw_columns=("log10E_lo", "log10E_hi", "E", "I", "stat_lo", "stat_hi", "sys"),
        columns=("E", "I", "stat_lo", "stat_hi", "sys", "log10E_lo", "log10E_hi"),
        raw_header="# Columns: logErec_min logErec_max E_TeV phi stat_lo stat_up sys",
        meta=dict(dataset=f"LHAASO-KM2A-2023-{region}", experiment="LHAASO-KM2A",
                  reference=LHAASO_PAPER.format(table=table),
                  species="gamma", quantity="intensity", quantity_units="TeV^-1 cm^-2 s^-1 sr^-1",
                  abscissa="energy", abscissa_units="TeV",
                  comment=f"diffuse emission of the {region} Galaxy, {longitudes}, |b| < 5 deg; "
                          "stat_lo/stat_hi: statistical 1-sigma errors below/above, sys: systematic error "
                          "(symmetric), all absolute in the units of I; log10E_lo/log10E_hi: log10 of the "
                          "reconstructed-energy bin edges in TeV"))


OTHER = {
    "gamma_rays/LHAASO_KM2A_2023_TableS2_inner.txt": _lhaaso_entry("inner", "S2", "15 deg < l < 125 deg"),
    "gamma_rays/LHAASO_KM2A_2023_TableS3_outer.txt": _lhaaso_entry("outer", "S3", "125 deg < l < 235 deg"),
    "gamma_rays/Ackermann2012_diffuse_Fig17.txt": Entry(
        out="gamma_rays/Fermi-LAT_Ackermann2012_Fig17.txt",
        raw_columns=("E", "E2I_lo", "E2I", "E2I_hi"),
        columns=("E", "E2I", "E2I_lo", "E2I_hi"),
        raw_header="# Extracted from Fig 17 in Achkermann et al.",
        meta=dict(dataset="Fermi-LAT-Ackermann2012", experiment="Fermi-LAT",
                  reference="Ackermann et al. (Fermi-LAT Collaboration), ApJ 750, 3 (2012), Fig. 17; "
                            "ADS 2012ApJ...750....3A",
                  species="gamma", quantity="E2_intensity", quantity_units="MeV cm^-2 s^-1 sr^-1",
                  abscissa="energy", abscissa_units="MeV",
                  comment="E^2 times the diffuse intensity, digitised from the figure; E2I_lo/E2I_hi: lower and "
                          "upper edge of the published band (not errors)")),
    **{f"neutrinos/IceCube2023_nus_gp_kra{cut}.txt": Entry(
        out=f"neutrinos/IceCube2023_GP_KRA-gamma-{cut}PeV.txt",
        raw_columns=("E", "E2F"), columns=("E", "E2F", "err_lo", "err_hi"),
        raw_header="# E_nu [GeV] - E^2_nu F [GeV s^-1 cm^-2]", norm=norm,
        meta=dict(dataset=f"IceCube-2023-GP-KRA-gamma-{cut}PeV", experiment="IceCube",
                  reference="IceCube Collaboration, Science 380, 1338 (2023)",
                  species="nu", quantity="E2_flux", quantity_units="GeV cm^-2 s^-1",
                  abscissa="energy", abscissa_units="GeV",
                  comment=f"Galactic-plane neutrinos: KRA-gamma template ({cut} PeV cutoff) times its best-fit "
                          f"normalisation {norm[0]:g} (+{norm[2]:g} -{norm[1]:g}); E2F = E^2 times the per-flavour "
                          "(nu + nubar) flux integrated over the whole sky (divide by 4 pi sr for the mean "
                          "intensity; all-flavour = 3 x per-flavour); err_lo/err_hi: absolute 1-sigma errors from "
                          "the normalisation error (fully correlated between energies), rounded to 6 digits"))
       for cut, norm in (("5", (0.55, 0.15, 0.18)), ("50", (0.37, 0.11, 0.13)))},
}
SOURCES = {"gamma_rays": SOURCE_GAMMA, "neutrinos": SOURCE_NU}


# ------------------------------------------------------------------------------------ reading


def _raw(path: Path) -> tuple[list[str], np.ndarray]:
    """Header lines and the numeric rows of a raw table (every row the same length)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = [ln for ln in lines if ln.lstrip().startswith("#")]
    rows = [ln.split() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError(f"{path}: expected rows of equal length, got lengths {sorted({len(r) for r in rows})}")
    return header, np.array([[float(v) for v in r] for r in rows])


def _crdb_meta(header: list[str]) -> dict[str, str]:
    meta = {}
    for line in header:
        m = re.match(r"^#\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*)$", line.strip())
        if m:
            meta[m.group(1).strip().lower()] = m.group(2).strip()
    return meta


def _crdb_reference(ref: str, paper: str) -> str:
    """``10.x/y (bibcode)`` → ``doi:10.x/y, ADS bibcode``; an arXiv id already in ``paper`` is dropped."""
    m = re.fullmatch(r"(10\.\S+)\s+\((\S+)\)", ref)
    if m:
        return f"doi:{m.group(1)}, ADS {m.group(2)}"
    arxiv = ref.split()[0] if ref else ""
    return "" if arxiv and arxiv in paper else ref


def _cr_name(path: Path) -> tuple[str, str, str]:
    m = re.match(r"^(?P<label>.+?)_(?P<species>H|He|[A-Z][a-z]?)_(?P<q>[A-Za-z]+)$", path.stem)
    if not m or m.group("q") not in CR_ABSCISSAE:
        raise ValueError(f"{path.name}: expected a name <dataset>_<species>_<abscissa>.txt with abscissa one of "
                         f"{list(CR_ABSCISSAE)}")
    return m.group("label"), m.group("species"), m.group("q")


def convert_cr(path: Path) -> tuple[str, dict, np.ndarray]:
    """One ``cosmic_rays/`` file → (output name, header, rows)."""
    label, species, abscissa = _cr_name(path)
    header, rows = _raw(path)
    raw = _crdb_meta(header)
    named = next((ln.lstrip("#").split() for ln in header if "ystat_lo" in ln.lower()), None)
    if named is not None:
        names = [NAMED_CR.get(t.lower()) for t in named]
        if None in names or len(names) != rows.shape[1]:
            raise ValueError(f"{path}: named columns {named} not all known ({sorted(NAMED_CR)}) or not one per value")
        order = [names.index(c) for c in NAMED_ORDER if c in names]
        columns = [names[i] for i in order]
        rows = rows[:, order]
        source = f"CRDB export via {SOURCE_AMS2015}"
        notes = ["x_lo/x_hi: bin edges of x; tot_lo/tot_hi: total errors as published (stat and sys in quadrature)"]
    else:
        if rows.shape[1] != len(CR_COLUMNS) or "columns" not in raw and "colums" not in raw:
            raise ValueError(f"{path}: neither the CRDB layout ({len(CR_COLUMNS)} columns after '#Columns: x, y, "
                             f"y statistical errors, y systematic errors') nor named columns")
        for key, want in (("x quantity", abscissa), ("y quantity", species)):
            if raw.get(key, want) != want:
                raise ValueError(f"{path}: header {key} {raw[key]!r} contradicts the file name ({want!r})")
        columns = list(CR_COLUMNS)
        via = SOURCE_HE if species == "He" else SOURCE_H
        url = f", {raw['url']}" if raw.get("url") else ""
        source = f"CRDB-format export ({raw.get('source', 'CRDB')}{url}) via {via}"
        notes = [f"CRDB comment: {raw['comments']}"] if raw.get("comments") else []
    paper, extra = CR_PAPERS.get(path.name, ("", ""))
    reference = "; ".join(s for s in (paper, _crdb_reference(raw.get("ref", ""), paper)) if s)
    x_units, flux_units, words = CR_ABSCISSAE[abscissa]
    comment = "; ".join([f"x: {words} [{x_units}]; flux per unit x", CR_ERRORS] + notes + ([extra] if extra else []))
    experiment = EXPERIMENTS.get(path.name) or raw.get("experiment") or label
    meta = dict(format=FORMAT, dataset=label, experiment=experiment,
                reference=reference, species=species, quantity="flux", quantity_units=flux_units,
                abscissa=abscissa, abscissa_units=x_units, columns=" ".join(columns),
                source=f"{source}; converted by tools/import_reference_data.py from cosmic_rays/{path.name}",
                comment=comment)
    return f"cosmic_rays/{label}_{species}.txt", meta, rows


def convert_other(path: Path, rel: str) -> tuple[str, dict, np.ndarray]:
    """One catalogued ``gamma_rays/`` or ``neutrinos/`` file → (output name, header, rows)."""
    entry = OTHER[rel]
    header, rows = _raw(path)
    if entry.raw_header and not any(ln.strip().startswith(entry.raw_header) for ln in header):
        raise ValueError(f"{path}: header lacks {entry.raw_header!r}; the layout may have changed")
    if rows.shape[1] != len(entry.raw_columns):
        raise ValueError(f"{path}: {rows.shape[1]} columns; expected {len(entry.raw_columns)} {entry.raw_columns}")
    cols = {name: rows[:, i] for i, name in enumerate(entry.raw_columns)}
    if entry.norm is not None:
        best, minus, plus = entry.norm
        cols["err_lo"] = np.array([float(f"{v:.6g}") for v in cols["E2F"] * (minus / best)])
        cols["err_hi"] = np.array([float(f"{v:.6g}") for v in cols["E2F"] * (plus / best)])
    data = np.column_stack([cols[c] for c in entry.columns])
    meta = dict(entry.meta, format=FORMAT, columns=" ".join(entry.columns),
                source=f"{SOURCES[rel.split('/')[0]]}; converted by tools/import_reference_data.py from {rel}")
    return entry.out, meta, data


# ------------------------------------------------------------------------------------ driver


def convert_folder(src: Path) -> dict[str, tuple[dict, np.ndarray]]:
    """Every convertible file below ``src`` → {output name: (header, rows)}."""
    out: dict[str, tuple[dict, np.ndarray]] = {}
    for sub in ("cosmic_rays", "gamma_rays", "neutrinos"):
        for path in sorted((src / sub).glob("*.txt")):
            rel = f"{sub}/{path.name}"
            if sub == "cosmic_rays":
                name, meta, data = convert_cr(path)
            elif rel in OTHER:
                name, meta, data = convert_other(path, rel)
            else:
                raise ValueError(f"{rel}: no catalogue entry; add one to OTHER in {Path(__file__).name}")
            if name in out:
                raise ValueError(f"{rel}: output {name} is written by two input files")
            out[name] = (meta, data)
    if not out:
        raise ValueError(f"{src}: no tables in cosmic_rays/, gamma_rays/ or neutrinos/")
    return out


def write_all(tables: dict[str, tuple[dict, np.ndarray]], dst: Path) -> list[Path]:
    """Write the tables below ``dst`` and read each back: the numbers must be the same doubles."""
    paths = []
    for name, (meta, data) in tables.items():
        path = write_table(dst / name, meta, data)
        back = read_table(path)
        if back.data.shape != data.shape or not np.array_equal(back.data, data):
            raise AssertionError(f"{path}: numbers changed on the round trip")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="folder with cosmic_rays/, gamma_rays/, neutrinos/ (published files)")
    parser.add_argument("--out", type=Path, default=REPO / "fpgal" / "core" / "data", help="destination (default: fpgal/core/data)")
    parser.add_argument("--check", action="store_true",
                        help="only compare with the tables in --out; exit 1 if they differ")
    args = parser.parse_args(argv)
    tables = convert_folder(args.src)
    if args.check:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            stale = [p.relative_to(tmp) for p in write_all(tables, Path(tmp))
                     if not (args.out / p.relative_to(tmp)).is_file()
                     or (args.out / p.relative_to(tmp)).read_bytes() != p.read_bytes()]
        for rel in stale:
            print(f"differs: {args.out / rel}")
        print(f"{len(tables) - len(stale)} of {len(tables)} tables up to date")
        return 1 if stale else 0
    for path in write_all(tables, args.out):
        print(f"wrote {path} ({read_table(path).data.shape[0]} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
