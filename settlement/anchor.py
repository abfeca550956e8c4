"""The L1 side through web3.py: deploy the compiled contracts, call them, read what they return.

A :class:`Chain` talks to any JSON-RPC node by URL (``http://127.0.0.1:8545``),
or, with no URL, to an in-process EVM (eth-tester on py-evm, Prague rules) —
the embedded default. Contracts come from the committed artifacts in
``contracts/artifacts`` (``make contracts`` rebuilds them). A call that
reverts raises :class:`ContractReverted` naming the contract's custom error
and its arguments, the same whichever chain answered.

Only this module (and the contracts tooling) imports web3; see DESIGN.md.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    Web3Exception,
)
from web3.types import TxParams

from sealbatch.crypto.air import Air
from sealbatch.crypto.composition import ColumnLayout
from sealbatch.crypto.evm_program import code_hash, compile_code, deploy_init_code
from sealbatch.crypto.fixed import fixed_commitment
from sealbatch.crypto.fri import fri_shape
from sealbatch.crypto.options import ProofOptions
from sealbatch.crypto.security import estimate_security
from sealbatch.crypto.solidity import (
    CHUNK_BYTES,
    ConstraintProgram,
    compile_constraints,
    contract_name,
    data_chunk_init_code,
)
from sealbatch.crypto.verifier import DEFAULT_MIN_SECURITY_BITS
from sealbatch.settlement.errors import SettlementError

__all__ = [
    "ARTIFACTS",
    "EMBEDDED_GAS_LIMIT",
    "TX_GAS_CAP",
    "AnchorError",
    "Artifact",
    "Chain",
    "ContractReverted",
    "DeployedVerifier",
    "Receipt",
    "TransactionTooLarge",
    "calldata_gas",
    "check_program_evaluator",
    "decode_revert",
    "deploy_program",
    "deploy_verifier",
    "load_artifact",
    "verifier_config",
]

#: The compiled contracts (ABI + bytecode), committed; rebuilt by ``make contracts``.
ARTIFACTS = Path(__file__).resolve().parents[1] / "contracts" / "artifacts"
#: Block gas limit of the embedded chain: room for a large proof in one transaction.
EMBEDDED_GAS_LIMIT = 120_000_000
#: EIP-7825's cap on one transaction's gas (2^24): the exchange's own transactions
#: (anchors, deposits, withdrawals, escapes) must fit it on a chain that enforces it.
TX_GAS_CAP = 1 << 24


_REVERTS = (ContractCustomError, ContractLogicError, ContractPanicError, TransactionFailed)


class AnchorError(SettlementError):
    """Root of the L1 client's errors: a missing artifact, a chain that cannot be reached."""

    code = "anchor_error"


class ContractReverted(AnchorError):
    """A contract call reverted; ``error`` names the custom error, ``args`` its arguments.

    A revert without a known custom error (a panic, an out-of-gas, a plain
    ``revert()``) has ``error`` ``"Revert"`` and the raw data in ``args``.
    """

    code = "contract_reverted"

    def __init__(self, error: str, args: tuple[Any, ...] = ()) -> None:
        self.error = error
        self.error_args = args
        super().__init__(f"contract reverted with {error}{args if args else ''}")


class TransactionTooLarge(AnchorError):
    """A transaction needs more gas than the cap it was sent under (EIP-7825's 2^24):
    nothing moved."""

    code = "transaction_too_large"

    def __init__(self, function: str, cap: int, needed: int | None = None) -> None:
        self.function = function
        self.cap = cap
        self.needed = needed
        got = f"{needed} gas" if needed is not None else "more (it ran out)"
        super().__init__(
            f"expected {function} to fit one transaction's {cap} gas (EIP-7825), got {got}; "
            f"nothing moved"
        )


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: its name, ABI and creation bytecode."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


def load_artifact(name: str, directory: Path = ARTIFACTS) -> Artifact:
    """The artifact ``directory/name.json``.

    Raises:
        AnchorError: no such artifact (run ``make contracts``).
    """
    path = directory / f"{name}.json"
    if not path.is_file():
        raise AnchorError(f"expected a compiled contract at {path}, got none (run make contracts)")
    data = json.loads(path.read_text())
    return Artifact(name, data["abi"], data["bytecode"], data["deployedBytecode"])


@cache
def _error_selectors(directory: Path) -> dict[bytes, tuple[str, list[str]]]:
    """Selector -> (error name, argument types) over every artifact's custom errors."""
    out: dict[bytes, tuple[str, list[str]]] = {}
    for path in sorted(directory.glob("*.json")):
        for item in json.loads(path.read_text())["abi"]:
            if item.get("type") != "error":
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            out[selector] = (item["name"], types)
    return out


def _abi_type(item: dict[str, Any]) -> str:
    t = str(item["type"])
    if t.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){t[5:]}"
    return t


def decode_revert(data: bytes, directory: Path = ARTIFACTS) -> ContractReverted:
    """The :class:`ContractReverted` for revert data ``data``."""
    known = _error_selectors(directory)
    if len(data) >= 4 and data[:4] in known:
        name, types = known[data[:4]]
        try:
            values = abi_decode(types, data[4:])
        except ValueError:
            return ContractReverted("Revert", (data.hex(),))
        return ContractReverted(name, tuple(values))
    return ContractReverted("Revert", (data.hex(),) if data else ())


def _revert_data(exc: BaseException) -> bytes:
    """The revert data behind ``exc``: web3's ``data`` (a JSON-RPC node), or the bytes
    eth-tester raises with (the embedded chain), following the exception chain."""
    seen: BaseException | None = exc
    while seen is not None:
        data = getattr(seen, "data", None)
        if isinstance(data, dict):  # some nodes nest it
            data = data.get("data")
        if isinstance(data, bytes):
            return data
        if isinstance(data, str) and data.startswith("0x"):
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                return b""
        if isinstance(seen, TransactionFailed) and seen.args:
            found = _tester_bytes(seen.args[0])
            if found is not None:
                return found
        seen = seen.__cause__ or seen.__context__
    return b""


def _tester_bytes(arg: object) -> bytes | None:
    """eth-tester raises with the revert data, as bytes or as their repr after a prefix."""
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        text = arg.removeprefix("execution reverted: ").strip()
        if text[:2] in ("b'", 'b"'):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return None
            return value if isinstance(value, bytes) else None
        if text.startswith("0x"):
            try:
                return bytes.fromhex(text[2:])
            except ValueError:
                return None
    return None


class Chain:
    """A connection to an EVM chain, and the account that pays for transactions."""

    def __init__(self, url: str | None = None, artifacts: Path = ARTIFACTS) -> None:
        """Connect to ``url``, or start the embedded chain when ``url`` is None.

        Raises:
            AnchorError: the node at ``url`` does not answer.
        """
        self.artifacts = artifacts
        self.embedded = url is None
        if url is None:
            from eth_tester import EthereumTester, PyEVMBackend  # embedded default only

            params = PyEVMBackend.generate_genesis_params(
                overrides={"gas_limit": EMBEDDED_GAS_LIMIT}
            )
            backend = PyEVMBackend(genesis_parameters=params)
            self.w3 = Web3(Web3.EthereumTesterProvider(EthereumTester(backend)))
        else:
            self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
        if not self.w3.is_connected():
            raise AnchorError(f"expected a JSON-RPC node at {url}, got no answer")
        accounts = self.w3.eth.accounts
        if not accounts:
            raise AnchorError(f"expected an unlocked account on {url or 'the embedded chain'}")
        self.account = accounts[0]

    def deploy(self, name: str, *args: Any, gas: int | None = None) -> Contract:
        """Deploy the artifact ``name`` with constructor ``args``; returns the bound contract.

        Raises:
            ContractReverted: the constructor reverted.
        """
        art = load_artifact(name, self.artifacts)
        factory = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        tx: dict[str, Any] = {"from": self.account}
        if gas is not None:
            tx["gas"] = gas
        try:
            tx_hash = factory.constructor(*args).transact(tx)
        except _REVERTS as exc:
            raise decode_revert(_revert_data(exc), self.artifacts) from exc
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise ContractReverted("Revert", ("deployment of " + name,))
        address = receipt["contractAddress"]
        if address is None:
            raise AnchorError(f"expected a contract address in the receipt of {name}, got none")
        return self.w3.eth.contract(address=address, abi=art.abi)

    def timestamp(self) -> int:
        """The latest block's timestamp (seconds)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_time(self, seconds: int) -> None:
        """Move a development chain's clock ``seconds`` ahead and mine a block (tests, demos).

        The embedded chain travels in time through eth-tester; a node through
        ``evm_increaseTime`` and ``evm_mine`` (anvil, hardhat).
        """
        tester = getattr(self.w3.provider, "ethereum_tester", None)
        if tester is not None:
            tester.time_travel(self.timestamp() + seconds)
            tester.mine_blocks(1)
            return
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def at(self, name: str, address: str) -> Contract:
        """The deployed contract ``name`` at ``address``."""
        checksum = Web3.to_checksum_address(address)
        return self.w3.eth.contract(address=checksum, abi=load_artifact(name, self.artifacts).abi)

    def call(self, contract: Contract, function: str, *args: Any) -> Any:
        """``eth_call``: the function's return value, without a transaction.

        Raises:
            ContractReverted: the call reverted.
        """
        try:
            return contract.functions[function](*args).call({"from": self.account})
        except _REVERTS as exc:
            raise decode_revert(_revert_data(exc), self.artifacts) from exc

    def transact(
        self,
        contract: Contract,
        function: str,
        *args: Any,
        sender: str | None = None,
        gas_cap: int | None = None,
    ) -> Receipt:
        """Send a transaction calling ``function`` from ``sender`` (default: the chain's
        account); returns its receipt once mined.

        Args:
            gas_cap: the most gas the transaction may use (:data:`TX_GAS_CAP` for the
                exchange's anchors). A node is asked for the estimate first, and nothing is
                sent above the cap; the embedded chain, whose estimate would re-run the
                call a dozen times, sends it with exactly the cap, so a call that needs
                more runs out of gas and reverts (py-evm's Prague rules do not enforce
                EIP-7825 themselves). None: the chain's own limit.

        Raises:
            ContractReverted: the transaction would revert (checked by the gas estimate).
            TransactionTooLarge: it needs more than ``gas_cap``; nothing moved.
            AnchorError: the node refused or lost the transaction otherwise (an RPC error
                such as a nonce or fee refusal, no receipt in time): it may still be mined,
                so a caller retrying must first look whether it was.
        """
        try:
            return self._transact(contract, function, args, sender, gas_cap)
        except AnchorError:
            raise
        except Web3Exception as exc:
            raise AnchorError(f"{function}: the node: {type(exc).__name__}: {exc}") from exc

    def _transact(
        self,
        contract: Contract,
        function: str,
        args: tuple[Any, ...],
        sender: str | None,
        gas_cap: int | None,
    ) -> Receipt:
        tx: TxParams = {"from": sender or self.account}
        call = contract.functions[function](*args)
        try:
            if self.embedded:
                # eth-tester estimates gas by bisection (a dozen runs of a proof check): one
                # eth_call finds a revert and its reason, then the transaction gets the room.
                call.call(tx)
                tx["gas"] = gas_cap if gas_cap is not None else EMBEDDED_GAS_LIMIT // 2
            elif gas_cap is not None:
                needed = int(call.estimate_gas(tx))
                if needed > gas_cap:
                    raise TransactionTooLarge(function, gas_cap, needed)
                tx["gas"] = needed
        except _REVERTS as exc:
            raise decode_revert(_revert_data(exc), self.artifacts) from exc
        try:
            tx_hash = call.transact(tx)
        except _REVERTS as exc:
            if self.embedded and gas_cap is not None:
                # the eth_call above succeeded with the block's gas: this one ran out
                raise TransactionTooLarge(function, gas_cap) from exc
            raise decode_revert(_revert_data(exc), self.artifacts) from exc
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            if gas_cap is not None and int(receipt["gasUsed"]) >= gas_cap:
                raise TransactionTooLarge(function, gas_cap)
            raise ContractReverted("Revert", ("transaction " + tx_hash.hex(),))
        return Receipt(
            gas_used=int(receipt["gasUsed"]),
            input_data=bytes(self.w3.eth.get_transaction(tx_hash)["input"]),
            tx_hash="0x" + bytes(tx_hash).hex(),
            block=int(receipt["blockNumber"]),
        )


@dataclass(frozen=True)
class Receipt:
    """A mined transaction: its gas, the calldata it carried, its hash and block."""

    gas_used: int
    input_data: bytes
    tx_hash: str = ""
    block: int = 0


def calldata_gas(data: Sequence[int] | bytes) -> int:
    """Intrinsic calldata gas: 4 per zero byte, 16 per non-zero byte (EIP-2028)."""
    return sum(4 if b == 0 else 16 for b in bytes(data))


# ------------------------------------------------------------------ the STARK verifier


@dataclass(frozen=True)
class DeployedVerifier:
    """A StarkVerifier on chain, for one AIR instance and one option set.

    ``tables`` (every method's last argument) are the bus's public tables as
    :func:`~sealbatch.crypto.solidity.encode_tables` packs them: the contract
    computes their LogUp sum itself (an AIR without public tables takes none).
    """

    chain: Chain
    air_name: str
    num_rows: int
    options: ProofOptions
    verifier: Contract
    evaluator: Contract

    def _call_args(
        self, public_inputs: Sequence[int], proof: bytes, tables: bytes | None
    ) -> tuple[str, tuple[Any, ...]]:
        if tables is None:
            return "verify", (list(public_inputs), proof)
        return "verifyWithTables", (list(public_inputs), tables, proof)

    def verify(
        self, public_inputs: Sequence[int], proof: bytes, tables: bytes | None = None
    ) -> bool:
        """Call ``verify`` (no transaction); True, or raises :class:`ContractReverted`."""
        function, args = self._call_args(public_inputs, proof, tables)
        return bool(self.chain.call(self.verifier, function, *args))

    def gas_report(
        self, public_inputs: Sequence[int], proof: bytes, tables: bytes = b""
    ) -> tuple[int, ...]:
        """Gas per step inside ``verify``: transcript, constraints, Merkle, DEEP, FRI, and
        the public tables' LogUp sum."""
        out = self.chain.call(
            self.verifier, "verifyWithGasReport", list(public_inputs), tables, proof
        )
        return tuple(int(v) for v in (*out[:5], out[6]))

    def verify_transaction(
        self, public_inputs: Sequence[int], proof: bytes, tables: bytes | None = None
    ) -> Receipt:
        """Verify in a mined transaction; its receipt says what it cost."""
        function, args = self._call_args(public_inputs, proof, tables)
        return self.chain.transact(self.verifier, function, *args)


def verifier_config(
    air: Air,
    options: ProofOptions,
    *,
    min_security_bits: int = DEFAULT_MIN_SECURITY_BITS,
    bus_beta: int = 0,
) -> tuple[Any, ...]:
    """The ``StarkVerifier.Config`` tuple that fixes ``air``'s shape and ``options`` on chain.

    The contract checks no security level: the options it is deployed with
    are the only ones it accepts, so this refuses options under
    ``min_security_bits`` conjectured bits (the Python verifier's default).
    An AIR's one derived challenge, if it has one, must be its bus's public
    table sum (:class:`~sealbatch.crypto.bus.Bus`, β at challenge ``bus_beta``):
    the contract computes it from the tables it is given.

    Raises:
        AnchorError: the options give too few bits, or do not fit the AIR, or
            the AIR derives more than one challenge.
    """
    derived = air.num_derived_challenges
    if derived > 1 or (derived and not 0 <= bus_beta < air.num_challenges - 1):
        raise AnchorError(
            f"expected at most one derived challenge (a bus's public table sum with β at "
            f"{bus_beta} of {air.num_challenges}), got {derived}"
        )
    report = estimate_security(options, air.num_rows, air.max_degree(), air.num_constraints)
    if report.conjectured < min_security_bits:
        raise AnchorError(
            f"expected options with at least {min_security_bits} conjectured bits, "
            f"got {report.conjectured}"
        )
    layout = ColumnLayout.of(air)
    if layout.num_composition > options.blowup:
        raise AnchorError(
            f"expected a blowup of at least {layout.num_composition} for this AIR, "
            f"got {options.blowup}"
        )
    folds, remainder = fri_shape(air.num_rows, options)
    name = air.name.encode("ascii")
    if len(name) > 32:
        raise AnchorError(f"expected an AIR name of at most 32 bytes, got {len(name)}")
    fixed_root = fixed_commitment(air, options.blowup).root if layout.num_fixed else bytes(32)
    log2 = int.bit_length
    return (
        name.ljust(32, b"\0"),
        len(name),
        log2(air.num_rows) - 1,
        log2(options.blowup) - 1,
        options.num_queries,
        log2(options.folding_factor) - 1,
        options.grinding_bits,
        log2(options.fri_max_remainder) - 1,
        layout.num_fixed,
        layout.num_main,
        layout.num_aux,
        layout.num_composition,
        air.num_challenges,
        air.num_constraints,
        len(air.public_inputs),
        folds,
        remainder,
        fixed_root,
        air.num_derived_challenges,
        bus_beta,
    )


def deploy_verifier(
    chain: Chain,
    air: Air,
    options: ProofOptions,
    *,
    min_security_bits: int = DEFAULT_MIN_SECURITY_BITS,
    from_program: bool = False,
) -> DeployedVerifier:
    """Deploy ``air``'s generated constraint evaluator and a StarkVerifier bound to it.

    The evaluator's program must be the one ``air``'s expressions give now
    (an AIR whose shape follows a public input, like ``wide``'s column count,
    has a contract only for the instance it was generated for). With
    ``from_program`` the program is compiled from ``air`` now and deployed
    through :func:`deploy_program` (no checked-in contract: the batch AIR).

    Raises:
        AnchorError: no generated evaluator for this AIR instance, or bad options.
    """
    config = verifier_config(air, options, min_security_bits=min_security_bits)
    program = compile_constraints(air)
    if from_program:
        evaluator = deploy_program(chain, program)
    else:
        evaluator = chain.deploy(contract_name(air.name))
    on_chain = bytes(chain.call(evaluator, "programHash"))
    if on_chain != keccak(program.code):
        raise AnchorError(
            f"expected the generated evaluator of {air.name!r} to match its expressions, "
            "got another program (run make contracts, or this AIR instance has none)"
        )
    verifier = chain.deploy("StarkVerifier", evaluator.address, config)
    return DeployedVerifier(chain, air.name, air.num_rows, options, verifier, evaluator)


def deploy_program(chain: Chain, program: ConstraintProgram) -> Contract:
    """Deploy ``program`` as data contracts and as compiled code contracts (one transaction
    each), and a ``ProgramConstraints`` evaluator that adopts them (and pins their hashes).

    The instructions run as straight-line EVM code (:mod:`sealbatch.crypto.evm_program`),
    not through the interpreter; the evaluator's ``codeHash`` is checked against the code
    compiled here.

    Raises:
        AnchorError: a contract was not created, or the evaluator pins other code.
    """
    code = program.code
    parts = [
        _create(chain, data_chunk_init_code(code[lo : lo + CHUNK_BYTES]), f"program chunk {n}")
        for n, lo in enumerate(range(0, len(code), CHUNK_BYTES))
    ]
    compiled = compile_code(code)
    runners = [
        _create(chain, deploy_init_code(part), f"code contract {n}")
        for n, part in enumerate(compiled)
    ]
    evaluator = chain.deploy("ProgramConstraints", parts, len(code), runners)
    check_program_evaluator(chain, evaluator, program)
    return evaluator


def check_program_evaluator(chain: Chain, evaluator: Contract, program: ConstraintProgram) -> None:
    """Check that a ``ProgramConstraints`` evaluator runs exactly ``program``.

    Its ``programHash`` must be the program's Keccak-256 and its ``codeHash``
    that of the code :func:`~sealbatch.crypto.evm_program.compile_code` gives
    for the program: code contracts compiled from anything else (say, code that
    leaves every constraint at zero) are refused.

    Raises:
        AnchorError: either hash differs (the message gives both).
    """
    want = keccak(program.code)
    got = bytes(chain.call(evaluator, "programHash"))
    if got != want:
        raise AnchorError(f"expected the program hash 0x{want.hex()}, got 0x{got.hex()}")
    want = code_hash(compile_code(program.code))
    got = bytes(chain.call(evaluator, "codeHash"))
    if got != want:
        raise AnchorError(f"expected the evaluator's code hash 0x{want.hex()}, got 0x{got.hex()}")


def _create(chain: Chain, init: bytes, what: str) -> str:
    """Send a contract-creation transaction with ``init``; the new contract's address."""
    tx: TxParams = {"from": chain.account, "data": init}
    if chain.embedded:
        tx["gas"] = EMBEDDED_GAS_LIMIT // 2
    receipt = chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_transaction(tx))
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None:
        raise AnchorError(f"expected {what} deployed, got a revert")
    return str(address)
