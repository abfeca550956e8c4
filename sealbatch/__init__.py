"""sealbatch: sealed commit-reveal orders, uniform-price batch auctions, STARK-proved settlement.

The layers live in the repository's top-level folders and install as
subpackages of this one (``pyproject.toml`` maps each folder):

- :mod:`sealbatch.crypto` (``crypto/``): field, NTT, Merkle, FRI, STARK prover
  and verifier, Poseidon2, Keccak, EIP-712 signing;
- :mod:`sealbatch.auction` (``auction/``): orders, commit-reveal, clearing;
- :mod:`sealbatch.settlement` (``settlement/``): ledger, oracle, risk, the batch
  transition;
- :mod:`sealbatch.venue` (``venue/``): the exchange service, the SDK, the CLI;
- :mod:`sealbatch.research` (``research/``): the MEV lab.

Imports point down only: ``crypto <- auction <- settlement <- venue``, with
``research`` beside ``venue`` (checked by import-linter, see ``pyproject.toml``).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
