#!/usr/bin/env bash
# Set up everything fpgal needs on a fresh Debian 12 machine (run as root), idempotently:
#   system BLAS + MPICH, a virtual environment .venv, PETSc/petsc4py built from source once
#   (pip's wheel cache makes every later install take seconds), and fpgal itself (editable).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
log() { printf '[install] %s\n' "$*" >&2; }

apt_pkgs="libopenblas-dev libmpich-dev mpich pkg-config"
if ! dpkg -s $apt_pkgs >/dev/null 2>&1; then
    log "installing system packages: $apt_pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $apt_pkgs >/dev/null
fi

py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $($py --version)"
    "$py" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }

pins=tools/requirements.txt
pin() { grep -E "^$1==" "$pins"; }

pip install pip==25.3 setuptools==80.9.0 wheel==0.45.1 cython==3.1.6 "$(pin numpy)"

# mpi4py against the system MPICH (its binary wheel brings another MPI; PETSc must share one).
if ! .venv/bin/python -c "import mpi4py" 2>/dev/null; then
    log "building mpi4py against system MPICH (first time ~4 min, then cached)"
    MPICC=mpicc pip install --no-binary=mpi4py mpi4py==4.1.1
fi

# PETSc from source, once: no Fortran, optimized, system MPI and BLAS.
if ! .venv/bin/python -c "import petsc" 2>/dev/null; then
    log "building PETSc (first time ~15 min, then cached)"
    MPICC=mpicc MPICXX=mpicxx \
    PETSC_CONFIGURE_OPTIONS="--with-fc=0 --with-debugging=0 COPTFLAGS=-O2 CXXOPTFLAGS=-O2" \
        pip install -v petsc==3.26.1 > .venv/petsc-build.log 2>&1 \
        || { tail -50 .venv/petsc-build.log >&2; exit 1; }
fi
if ! .venv/bin/python -c "import petsc4py" 2>/dev/null; then
    log "building petsc4py against that PETSc"
    pip install --no-build-isolation petsc4py==3.26.1
fi

pip install -r "$pins"
pip install --no-build-isolation --no-deps -e .
log "environment ready: $repo/.venv"
