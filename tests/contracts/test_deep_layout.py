"""The DEEP table's layout that StarkVerifier works out once, at deployment.

A verification combines every opened base element with its DEEP coefficient
through a table of blocks (eight consecutive elements of one row at one offset
slot, `_deepSlot`). Which block and lane each element takes depends only on
the evaluator's frame, so the constructor derives it and stores it in a data
contract (`deepLayout`); a verification only writes the coefficients. An
element left out or put in the wrong lane would make DEEP ignore (or misplace)
an opened column, so the stored layout is compared here with one derived
independently from the frame, for AIRs with main and aux columns at several
offsets; every opening a forger could change is also bound by the Merkle
roots, and the agreement tests check tampered proofs against the Python
verifier on the same contract.
"""

from __future__ import annotations

import struct

import pytest

from sealbatch.crypto.airs import get_air
from sealbatch.crypto.prover import prove
from sealbatch.settlement.anchor import Chain, ContractReverted, deploy_verifier
from tests.crypto.helpers import FAST
from tests.crypto.test_stark import _tampered

ROWS = 64


def expected_layout(spec: bytes, num_composition: int) -> bytes:
    """The layout bytes for ``spec`` (the evaluator's ``frameSpec``), derived in Python.

    u16 words: the block count, the bounds per key ``4·slot + segment`` (and the end),
    each block's byte offset in its row, then each element's word index in the table
    (nine words a block: its offset, then eight coefficients).
    """
    num_offsets = spec[0]
    entries = spec[1 + num_offsets :]
    elements: list[tuple[int, int]] = []  # (key, byte offset in the row)
    for at in range(0, len(entries), 4):
        segment, column, slot = struct.unpack(">BHB", entries[at : at + 4])
        key = 4 * slot + segment
        if segment < 2:
            elements.append((key, 4 * column))
        else:
            elements.extend((key, 16 * column + 4 * k) for k in range(4))
    elements.extend((3, 16 * i + 4 * k) for i in range(num_composition) for k in range(4))
    keys = 4 * num_offsets
    blocks: list[list[int]] = [[] for _ in range(keys)]  # per key: each block's start
    placed = []
    for key, offset in elements:
        starts = blocks[key]
        if not starts or not starts[-1] <= offset < starts[-1] + 32:
            starts.append(offset)
        placed.append((key, len(starts) - 1, offset - starts[-1]))
    bounds = [0]
    for starts in blocks:
        bounds.append(bounds[-1] + len(starts))
    offsets = [start for starts in blocks for start in starts]
    indices = [9 * (bounds[key] + block) + 1 + within // 4 for key, block, within in placed]
    words = [bounds[-1], *bounds, *offsets, *indices]
    return struct.pack(f">{len(words)}H", *words)


@pytest.mark.parametrize("name", ["fibonacci", "range_check", "wide"])
def test_layout_is_the_frames(chain: Chain, name: str) -> None:
    entry = get_air(name)
    trace, pubs = entry.generate(ROWS)
    air = entry.build(ROWS, pubs)
    verifier = deploy_verifier(chain, air, FAST, min_security_bits=0)
    spec = bytes(chain.call(verifier.evaluator, "frameSpec"))
    address = chain.call(verifier.verifier, "deepLayout")
    code = bytes(chain.w3.eth.get_code(address))
    assert code[0] == 0  # STOP: the data cannot be called as code
    assert code[1:] == expected_layout(spec, air.num_composition_columns())
    # and the verifier it belongs to accepts the honest proof
    data = prove(air, trace, FAST).to_bytes()
    assert verifier.verify(pubs, data)


def test_layout_with_aux_columns_and_two_offsets(chain: Chain) -> None:
    """range_check has aux (bus) columns and reads rows at two offsets: every segment and
    slot of the layout is exercised, and blocks span both main and aux rows."""
    entry = get_air("range_check")
    _, pubs = entry.generate(ROWS)
    air = entry.build(ROWS, pubs)
    verifier = deploy_verifier(chain, air, FAST, min_security_bits=0)
    spec = bytes(chain.call(verifier.evaluator, "frameSpec"))
    segments = {spec[1 + spec[0] + at] for at in range(0, len(spec) - 1 - spec[0], 4)}
    assert spec[0] >= 2 and {1, 2} <= segments


def test_forged_openings_refused(chain: Chain) -> None:
    """Proofs with one opened row element, one frame value, one composition value or one
    first-layer FRI value changed are refused, and so is a proof of another instance (the
    header): working the layout out at deployment accepts nothing more."""
    entry = get_air("fibonacci")
    trace, pubs = entry.generate(ROWS)
    air = entry.build(ROWS, pubs)
    verifier = deploy_verifier(chain, air, FAST, min_security_bits=0)
    proof = prove(air, trace, FAST)
    assert verifier.verify(pubs, proof.to_bytes())
    for label in ("main rows", "OOD trace value", "composition rows", "FRI layer 0 values"):
        bad = _tampered(proof)[label].to_bytes()
        with pytest.raises(ContractReverted):
            verifier.verify(pubs, bad)
    other = get_air("fibonacci")
    trace2, pubs2 = other.generate(2 * ROWS)
    data2 = prove(other.build(2 * ROWS, pubs2), trace2, FAST).to_bytes()
    with pytest.raises(ContractReverted):
        verifier.verify(pubs2, data2)
