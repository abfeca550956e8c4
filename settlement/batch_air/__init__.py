"""The batch AIR: one STARK for a batch's fair clearing and settlement (docs/stark.md).

Modules: :mod:`.framework` (columns by section, bus tags, range-check and
Poseidon2 services), :mod:`.statement` (the public inputs and tables, derived
from a published batch: verifier side), :mod:`.clearing` (the auction's
statements), :mod:`.air` (every section composed) and :mod:`.prover` (the
trace generator).
"""
