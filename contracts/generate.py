"""Write contracts/src/generated/: each registered AIR's constraints, and the Poseidon2 library.

``<Air>Constraints.sol`` comes from each registered AIR's expressions,
``Poseidon2.sol`` from the constants of crypto/poseidon2.py.

usage: python contracts/generate.py [--check]

``--check`` writes nothing and exits 1 if a generated file differs from what
the expressions give now (``make contracts`` regenerates; a test compares).
The program does not depend on the row count or on the public inputs' values
(boundary rows are kept as written, public inputs are registers), so one
file serves every trace length; AIRs whose shape follows a public input
(``wide``'s column count) are generated for their default instance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sealbatch.crypto.airs import AIR_MODULES, available_airs, get_air
from sealbatch.crypto.poseidon2_solidity import LIBRARY_NAME, render_library
from sealbatch.crypto.solidity import compile_constraints, contract_name, render_contract

HERE = Path(__file__).resolve().parent
GENERATED = HERE / "src" / "generated"
#: Rows of the instance each program is generated from (any power of two gives the same program).
GENERATION_ROWS = 64


def build_default(name: str, num_rows: int = GENERATION_ROWS):  # type: ignore[no-untyped-def]
    """The registered AIR ``name`` for its default public inputs at ``num_rows`` rows."""
    entry = get_air(name)
    _, public_inputs = entry.generate(num_rows)
    return entry.build(num_rows, public_inputs)


def generated_files() -> dict[Path, str]:
    """Every generated Solidity file and its contents."""
    out: dict[Path, str] = {}
    for name in available_airs():
        program = compile_constraints(build_default(name))
        source = AIR_MODULES[name].replace("sealbatch.crypto.", "crypto/").replace(".", "/") + ".py"
        out[GENERATED / f"{contract_name(name)}.sol"] = render_contract(program, source)
    out[GENERATED / f"{LIBRARY_NAME}.sol"] = render_library()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    files = generated_files()
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    extra = [p for p in GENERATED.glob("*.sol") if p not in files]
    if args.check:
        for p in stale + extra:
            print(f"out of date: {p.relative_to(HERE.parent)}", file=sys.stderr)
        return 1 if stale or extra else 0
    GENERATED.mkdir(parents=True, exist_ok=True)
    for p in extra:
        p.unlink()
    for p in stale:
        p.write_text(files[p])
    return 0


if __name__ == "__main__":
    sys.exit(main())
