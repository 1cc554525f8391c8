"""Small study inputs shared by the test modules (import as ``from _studies import milky_way_mesh``)."""


def milky_way_mesh(n_xy: int, n_z: int, n_E: int, name: str = "tiny") -> str:
    """TOML text of a coarse Milky-Way mesh: x, y in [-20, 20] kpc (n_xy cells), z in [-4, 4] kpc (n_z cells),
    n_E log-spaced energies 10 GeV – 1 PeV (the layout of meshes/*.toml)."""
    return f"""
name = "{name}"
[space]
x_kpc = [-20.0, 20.0, {n_xy}]
y_kpc = [-20.0, 20.0, {n_xy}]
z_kpc = [-4.0, 4.0, {n_z}]
[energy]
E_min_GeV = 10.0
E_max_GeV = 1.0e6
n_E = {n_E}
"""
