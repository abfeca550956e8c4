"""sealbatch settlement layer: the perpetuals ledger and risk engine.

Modules: ``params`` (risk rules), ``ledger`` (accounts, collateral, positions),
``oracle`` (signed reports, index, mark), ``funding``, ``margin`` (cross and
portfolio margin, the reveal-time check), ``liquidation`` (staged liquidation,
insurance, ADL, circuit breaker), ``roots`` (Poseidon2 state roots),
``blocks`` (RFQ blocks in the transition), ``transition`` (``apply_batch``),
``clearinghouse`` (what waits between batches: deposits, withdrawals, bonds,
margin checks, oracle reports), ``account_view``, ``dev_oracle``,
``snapshot`` (published formats) and ``input_files`` (the bounded reader of
every file a command is given).
"""
