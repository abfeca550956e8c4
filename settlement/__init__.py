"""sealbatch settlement layer: the perpetuals ledger and risk engine.

Modules: ``params`` (risk rules), ``ledger`` (accounts, collateral, positions),
``oracle`` (signed reports, index, mark), ``funding``, ``margin`` (cross and
portfolio margin, the reveal-time check), ``liquidation`` (staged liquidation,
insurance, ADL, circuit breaker), ``roots`` (Poseidon2 state roots),
``transition`` (``apply_batch``) and ``snapshot`` (published formats).
"""
