// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "./IERC20.sol";
import {IPoseidon2Hasher} from "./IPoseidon2Hasher.sol";
import {IStarkVerifier} from "./IStarkVerifier.sol";

/// @title The sealbatch exchange on L1: collateral, the proved state-root chain, the escape hatch
/// @notice Holds the traders' ERC-20 collateral and the exchange's state root. The root moves
///         from `stateRoot` to a new one only when the STARK verifier accepts a proof for the
///         public inputs this contract derives itself (docs/contracts.md, "The statement"):
///         the batch id and pre-root from its own storage, the L1 requests the batch consumes
///         (deposits, forced withdrawals) and the withdrawals it pays, hashed with Poseidon2, and
///         the oracle round whose every report it checks with ecrecover against the configured
///         sources. A forced withdrawal not consumed by a proved batch within
///         `forcedWithdrawalDelay` lets anyone freeze the exchange; after the freeze every
///         account withdraws its equity once, with a Poseidon2 Merkle proof of its leaf under
///         the last proved root (settlement/roots.py), and unconsumed deposits are reclaimed.
/// @dev The chain of roots is kept as `(nextBatchId, stateRoot)`: the root after batch
///      `nextBatchId - 1` (the genesis root before any batch). A statement names a batch range
///      `firstBatchId..lastBatchId`, so one proof may later cover several batches; the batch
///      proof today covers one (`RangeNotSupported` otherwise).
contract Exchange {
    // ------------------------------------------------------------------ constants

    /// @notice The BabyBear prime 15 * 2^27 + 1: every public input is below it.
    uint256 public constant P = 2013265921;
    /// @notice First element of an account leaf (settlement/roots.py ACCOUNT_DOMAIN).
    uint256 public constant ACCOUNT_DOMAIN = 0x5EA10001;
    /// @notice First element of the batch's inputs digest (docs/formats.md, "Batch digests").
    uint256 public constant INPUTS_DOMAIN = 0x5EA10006;
    /// @notice Elements per RFQ block in the inputs digest: id ×8, market code, buyer ×7,
    ///         seller ×7, price, quantity.
    uint256 public constant BLOCK_ELEMENTS = 25;
    /// @notice First element of each deposit, withdrawal and RFQ block record in the inputs
    ///         digest (docs/formats.md, "Batch digests").
    uint256 public constant DEPOSIT_TAG = 1;
    uint256 public constant WITHDRAWAL_TAG = 2;
    uint256 public constant BLOCK_TAG = 3;
    /// @notice Public inputs before the per-market values: batch id ×3, five digests ×8, m.
    uint256 public constant PUBLIC_HEADER = 44;
    /// @notice Public inputs per market: price, funding index ×4 (signed), mark, order count.
    uint256 public constant PUBLIC_PER_MARKET = 7;
    /// @notice Amounts, like every ledger value, stay below 2^62 (auction/bounds.py MAX_BALANCE + 1).
    uint256 public constant AMOUNT_LIMIT = 1 << 62;
    /// @notice keccak256("sealbatch.PriceReport.v1"): the type tag of an oracle report.
    bytes32 public constant REPORT_TAG = keccak256("sealbatch.PriceReport.v1");
    /// @notice Kinds of L1 requests in the queue.
    uint8 public constant KIND_DEPOSIT = 1;
    uint8 public constant KIND_FORCED_WITHDRAWAL = 2;
    /// @notice secp256k1 order / 2: signatures with a larger s are refused (EIP-2).
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    uint256 private constant LIMB_MASK = (1 << 24) - 1;

    // ------------------------------------------------------------------ types

    /// @notice A deposit or a forced-withdrawal request, queued on L1 in arrival order.
    struct L1Request {
        uint8 kind;
        address account;
        uint16 subaccount;
        bool reclaimed;
        uint64 amount;
        uint64 time;
    }

    /// @notice A withdrawal the batch paid out of the ledger: credited here for its account.
    struct Withdrawal {
        address account;
        uint16 subaccount;
        uint64 amount;
    }

    /// @notice One oracle source's signed price (settlement/oracle.py PriceReport, SignedReport).
    struct PriceReport {
        bytes32 market; // keccak256 of the market id
        uint64 price;
        uint64 timestampMs;
        address source;
        bytes signature; // r || s || v, v in {27, 28}
    }

    /// @notice The oracle input of a batch (settlement/oracle.py OracleRound).
    struct OracleRound {
        uint64 roundId;
        uint64 timestampMs;
        PriceReport[] reports;
    }

    /// @notice One market's public values after the batch.
    struct MarketValues {
        uint256 price; // clearing price in ticks, 0 when the market did not trade
        int256 fundingIndex; // cumulative funding per lot, base units
        uint256 mark; // mark price in ticks
        uint256 orders; // orders of the market in the batch
    }

    /// @notice What the operator states for a batch range; the contract derives the rest.
    struct Statement {
        uint64 firstBatchId;
        uint64 lastBatchId;
        bytes32 preRoot;
        bytes32 postRoot;
        bytes32 commitmentRoot; // the batch's seed (result.json)
        bytes32 outputsDigest;
        uint64 queueTo; // the batch consumes L1 requests [queueConsumed, queueTo)
        MarketValues[] markets; // in id order
        uint256[] blockElements; // the RFQ blocks settled, BLOCK_ELEMENTS each
        uint256[] settlement; // the batch AIR's settlement statement (SettleStatement.to_elements)
        Withdrawal[] withdrawals;
        OracleRound oracle;
    }

    // ------------------------------------------------------------------ errors

    /// @notice Only the operator anchors batches.
    error NotOperator(address caller);
    /// @notice The exchange is frozen: no batch, deposit or request is taken any more.
    error ExchangeFrozen();
    /// @notice The exchange is not frozen: escapes and reclaims wait for the freeze.
    error ExchangeNotFrozen();
    /// @notice The statement's first batch is not the one after the last anchored batch.
    error BatchIdMismatch(uint64 expected, uint64 got);
    /// @notice The batch proof covers one batch; a range waits for a range proof.
    error RangeNotSupported(uint64 firstBatchId, uint64 lastBatchId);
    /// @notice The statement's pre-root is not the stored state root.
    error PreRootMismatch(bytes32 expected, bytes32 got);
    /// @notice A value the statement carries is not below p (or a digest element is not).
    error NotFieldElement(uint256 value);
    /// @notice The statement consumes L1 requests outside [consumed, queue length].
    error QueueRangeInvalid(uint256 consumed, uint256 length, uint256 queueTo);
    /// @notice The statement's market values are not one per configured market.
    error MarketValuesMismatch(uint256 expected, uint256 got);
    /// @notice A consumed forced withdrawal has no matching withdrawal (same account and
    ///         subaccount, at most the amount asked) at its place in the statement's list.
    error ForcedWithdrawalNotServed(uint256 index);
    /// @notice The RFQ block elements are not a whole number of blocks.
    error MalformedBlocks(uint256 elements);
    /// @notice An oracle report's source is not a configured source.
    error UnknownOracleSource(address source);
    /// @notice An oracle report's signature does not recover to its source.
    error BadOracleSignature(uint256 report);
    /// @notice The oracle round is older than the last anchored one.
    error StaleOracleRound(uint64 lastTimestampMs, uint64 timestampMs);
    /// @notice The verifier refused the proof (`reason`: its custom error).
    error ProofRejected(bytes reason);
    /// @notice An amount is zero or not below 2^62.
    error BadAmount(uint256 amount);
    /// @notice A withdrawal asks for more than was credited by proved batches.
    error WithdrawalExceedsBalance(uint256 available, uint256 requested);
    /// @notice The L1 request does not exist.
    error UnknownRequest(uint256 index);
    /// @notice The L1 request is not a forced withdrawal.
    error NotForcedWithdrawal(uint256 index);
    /// @notice A proved batch consumed the request already.
    error RequestServed(uint256 index);
    /// @notice The forced withdrawal's deadline has not passed yet.
    error DeadlineNotPassed(uint256 deadline, uint256 timestamp);
    /// @notice The leaf is not an account leaf of the state tree's layout.
    error MalformedLeaf(uint256 position);
    /// @notice The account proof does not reach the stored state root.
    error AccountProofMismatch(bytes32 expected, bytes32 got);
    /// @notice The account has escaped already.
    error AlreadyEscaped(address account, uint16 subaccount);
    /// @notice The account's equity at the last root is not positive.
    error NoEquity(int256 equity);
    /// @notice The request is not an unconsumed, unreclaimed deposit.
    error NotReclaimable(uint256 index);
    /// @notice The token transfer failed.
    error TransferFailed();
    /// @notice A constructor argument is out of range.
    error BadConfig(string what);

    // ------------------------------------------------------------------ events

    /// @notice Collateral deposited; it enters the first batch that consumes request `index`.
    event Deposited(uint256 indexed index, address indexed account, uint16 subaccount, uint256 amount);
    /// @notice A forced withdrawal was requested; a proved batch must consume it by `deadline`.
    event ForcedWithdrawalRequested(
        uint256 indexed index, address indexed account, uint16 subaccount, uint256 amount, uint256 deadline
    );
    /// @notice The state root moved from `preRoot` to `postRoot` on a verified proof.
    event BatchAnchored(
        uint64 indexed firstBatchId,
        uint64 indexed lastBatchId,
        bytes32 preRoot,
        bytes32 postRoot,
        bytes32 inputsDigest,
        uint256 queueTo
    );
    /// @notice A proved batch paid `amount` out of the ledger to `account`; it may now withdraw it.
    event WithdrawalCredited(uint64 indexed batchId, address indexed account, uint16 subaccount, uint256 amount);
    /// @notice Tokens left the contract for `account`.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice The exchange froze because forced withdrawal `index` was not served in time.
    event Frozen(uint256 indexed index, uint64 nextBatchId, bytes32 stateRoot);
    /// @notice After the freeze `account` withdrew its equity at the last proved root.
    event Escaped(address indexed account, uint16 subaccount, uint256 equity);
    /// @notice After the freeze an unconsumed deposit went back to its depositor.
    event DepositReclaimed(uint256 indexed index, address indexed account, uint256 amount);

    // ------------------------------------------------------------------ wiring (immutable)

    /// @notice The STARK verifier of the batch AIR (one AIR, one option set).
    IStarkVerifier public immutable verifier;
    /// @notice Poseidon2 over BabyBear (the state tree's hash).
    IPoseidon2Hasher public immutable hasher;
    /// @notice The collateral token (6 decimals; ledger base units are its base units).
    IERC20 public immutable token;
    /// @notice The operator: the only address that anchors batches.
    address public immutable operator;
    /// @notice Seconds a forced withdrawal may wait before anyone can freeze the exchange.
    uint256 public immutable forcedWithdrawalDelay;
    /// @notice Number of markets (columns of every account leaf after collateral).
    uint256 public immutable marketCount;

    /// @notice Contract multiplier per market (base units per lot per tick), in id order.
    int256[] public multipliers;
    /// @notice Whether an address is a configured oracle source.
    mapping(address => bool) public isOracleSource;

    // ------------------------------------------------------------------ state

    /// @notice The id of the next batch to anchor (the one after the last anchored batch).
    uint64 public nextBatchId;
    /// @notice The state root after batch `nextBatchId - 1` (settlement/roots.py `state_root`).
    bytes32 public stateRoot;
    /// @notice Mark price per market at `stateRoot` (the escape's equity uses them).
    uint256[] public lastMarks;
    /// @notice Time (ms) of the oracle round of the last anchored batch.
    uint64 public lastOracleTimestampMs;
    /// @notice Every L1 request in arrival order.
    L1Request[] public queue;
    /// @notice How many requests proved batches consumed (a prefix of `queue`).
    uint256 public queueConsumed;
    /// @notice Tokens credited by proved batches and not withdrawn yet, per address.
    mapping(address => uint256) public withdrawable;
    /// @notice Whether the exchange is frozen (set once, never cleared).
    bool public frozen;
    /// @notice Whether an account (address, subaccount) has escaped.
    mapping(bytes32 => bool) public escaped;

    /// @param verifier_ The batch AIR's STARK verifier.
    /// @param hasher_ The Poseidon2 hasher.
    /// @param token_ The collateral token.
    /// @param operator_ The address that anchors batches.
    /// @param firstBatchId The id of the first batch to anchor.
    /// @param genesisRoot The state root before that batch.
    /// @param forcedWithdrawalDelay_ Seconds before an unserved forced withdrawal allows a freeze.
    /// @param oracleSources The oracle sources whose signatures the contract accepts.
    /// @param multipliers_ Contract multiplier per market, in id order.
    constructor(
        IStarkVerifier verifier_,
        IPoseidon2Hasher hasher_,
        IERC20 token_,
        address operator_,
        uint64 firstBatchId,
        bytes32 genesisRoot,
        uint256 forcedWithdrawalDelay_,
        address[] memory oracleSources,
        int256[] memory multipliers_
    ) {
        if (multipliers_.length == 0) revert BadConfig("markets");
        if (forcedWithdrawalDelay_ == 0) revert BadConfig("forcedWithdrawalDelay");
        _checkDigest(genesisRoot);
        verifier = verifier_;
        hasher = hasher_;
        token = token_;
        operator = operator_;
        forcedWithdrawalDelay = forcedWithdrawalDelay_;
        marketCount = multipliers_.length;
        for (uint256 m = 0; m < multipliers_.length; ++m) {
            if (multipliers_[m] <= 0) revert BadConfig("multiplier");
            multipliers.push(multipliers_[m]);
            lastMarks.push(0);
        }
        for (uint256 i = 0; i < oracleSources.length; ++i) {
            isOracleSource[oracleSources[i]] = true;
        }
        nextBatchId = firstBatchId;
        stateRoot = genesisRoot;
    }

    // ------------------------------------------------------------------ traders

    /// @notice Deposit `amount` base units of collateral to (sender, `subaccount`); the first
    ///         proved batch that consumes the request credits it in the ledger.
    /// @dev The sender must have approved this contract for `amount`.
    function deposit(uint16 subaccount, uint256 amount) external returns (uint256 index) {
        if (frozen) revert ExchangeFrozen();
        _checkAmount(amount);
        index = _enqueue(KIND_DEPOSIT, subaccount, amount);
        _pull(msg.sender, amount);
        emit Deposited(index, msg.sender, subaccount, amount);
    }

    /// @notice Ask the operator to withdraw up to `amount` base units of (sender, `subaccount`)'s
    ///         free collateral; a proved batch must consume the request within
    ///         `forcedWithdrawalDelay` seconds, serving it with a withdrawal to the same account
    ///         (of at most `amount`; of nothing when there is no free collateral), else anyone
    ///         may `freeze` the exchange.
    function requestForcedWithdrawal(uint16 subaccount, uint256 amount) external returns (uint256 index) {
        if (frozen) revert ExchangeFrozen();
        _checkAmount(amount);
        index = _enqueue(KIND_FORCED_WITHDRAWAL, subaccount, amount);
        emit ForcedWithdrawalRequested(index, msg.sender, subaccount, amount, block.timestamp + forcedWithdrawalDelay);
    }

    /// @notice Withdraw `amount` of what proved batches credited to the sender.
    function withdraw(uint256 amount) external {
        uint256 available = withdrawable[msg.sender];
        if (amount == 0 || amount > available) revert WithdrawalExceedsBalance(available, amount);
        withdrawable[msg.sender] = available - amount;
        _push(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    // ------------------------------------------------------------------ the operator

    /// @notice Move the state root along a proved batch: check the statement against storage,
    ///         derive the public inputs, have the verifier check the proof, then apply.
    /// @param s What the operator states (post-root, digests, prices, withdrawals, oracle round).
    /// @param proof The batch proof (format version 2, docs/stark.md).
    function anchor(Statement calldata s, bytes calldata proof) external {
        // 1. who, and whether the exchange still runs
        if (msg.sender != operator) revert NotOperator(msg.sender);
        if (frozen) revert ExchangeFrozen();
        // 2. the chain: the next batch, from the stored root
        if (s.firstBatchId != nextBatchId) revert BatchIdMismatch(nextBatchId, s.firstBatchId);
        if (s.lastBatchId != s.firstBatchId) revert RangeNotSupported(s.firstBatchId, s.lastBatchId);
        if (s.preRoot != stateRoot) revert PreRootMismatch(stateRoot, s.preRoot);
        // 3. the L1 requests it consumes: a prefix of what is queued
        uint256 consumed = queueConsumed;
        if (s.queueTo < consumed || s.queueTo > queue.length) {
            revert QueueRangeInvalid(consumed, queue.length, s.queueTo);
        }
        _checkShape(s);
        _checkForcedServed(s, consumed);
        // 4. the oracle round: every report signed by a configured source, not older than the last
        bytes32 oracleDigest = _checkOracle(s.oracle);
        // 5. the public inputs, derived here; the verifier must accept the proof for exactly them
        uint256[8] memory inputsDigest = _inputsDigest(s, consumed, oracleDigest);
        uint256[] memory publicInputs = _publicInputs(s, inputsDigest);
        try verifier.verify(publicInputs, proof) returns (bool ok) {
            if (!ok) revert ProofRejected("");
        } catch (bytes memory reason) {
            revert ProofRejected(reason);
        }
        // 6. apply: the root, the marks, the consumed requests, the credited withdrawals
        bytes32 preRoot = stateRoot;
        nextBatchId = s.lastBatchId + 1;
        stateRoot = s.postRoot;
        lastOracleTimestampMs = s.oracle.timestampMs;
        for (uint256 m = 0; m < marketCount; ++m) {
            lastMarks[m] = s.markets[m].mark;
        }
        queueConsumed = s.queueTo;
        for (uint256 i = 0; i < s.withdrawals.length; ++i) {
            Withdrawal calldata w = s.withdrawals[i];
            withdrawable[w.account] += w.amount;
            emit WithdrawalCredited(s.lastBatchId, w.account, w.subaccount, w.amount);
        }
        emit BatchAnchored(
            s.firstBatchId, s.lastBatchId, preRoot, s.postRoot, _toBytes32(inputsDigest), s.queueTo
        );
    }

    /// @notice The public inputs `anchor` would hand the verifier for `s` now (a view for the
    ///         operator and for tests; `anchor` derives them the same way).
    function publicInputsFor(Statement calldata s) external view returns (uint256[] memory) {
        if (s.queueTo < queueConsumed || s.queueTo > queue.length) {
            revert QueueRangeInvalid(queueConsumed, queue.length, s.queueTo);
        }
        _checkShape(s);
        bytes32 oracleDigest = _oracleDigest(s.oracle);
        return _publicInputs(s, _inputsDigest(s, queueConsumed, oracleDigest));
    }

    // ------------------------------------------------------------------ the escape hatch

    /// @notice Freeze the exchange: forced withdrawal `index` waited past its deadline
    ///         without a proved batch consuming it.
    function freeze(uint256 index) external {
        if (frozen) revert ExchangeFrozen();
        if (index >= queue.length) revert UnknownRequest(index);
        L1Request storage r = queue[index];
        if (r.kind != KIND_FORCED_WITHDRAWAL) revert NotForcedWithdrawal(index);
        if (index < queueConsumed) revert RequestServed(index);
        uint256 deadline = uint256(r.time) + forcedWithdrawalDelay;
        if (block.timestamp <= deadline) revert DeadlineNotPassed(deadline, block.timestamp);
        frozen = true;
        emit Frozen(index, nextBatchId, stateRoot);
    }

    /// @notice After the freeze, pay an account its equity at the last proved root, once:
    ///         collateral + Σ position × mark × multiplier (base units; nothing if not positive).
    /// @param leaf The account leaf's elements (settlement/roots.py `account_leaves`).
    /// @param index The leaf's position in the account tree.
    /// @param path The sibling digests from the leaf level up.
    /// @param header The header digest (the state root is compress(accounts root, header)).
    function escape(uint256[] calldata leaf, uint256 index, uint256[8][] calldata path, uint256[8] calldata header)
        external
    {
        if (!frozen) revert ExchangeNotFrozen();
        if (leaf.length != 14 + 4 * marketCount) revert MalformedLeaf(leaf.length);
        if (leaf[0] != ACCOUNT_DOMAIN) revert MalformedLeaf(0);
        for (uint256 i = 1; i < leaf.length; ++i) {
            // limbs are 24 bits (the address's top one 16, signs 0 or 1: checked below)
            if (leaf[i] > LIMB_MASK) revert MalformedLeaf(i);
        }
        if (leaf[8] > type(uint16).max) revert MalformedLeaf(8);
        address account = _address(leaf);
        uint16 subaccount = uint16(leaf[8]);
        bytes32 key = keccak256(abi.encode(account, subaccount));
        if (escaped[key]) revert AlreadyEscaped(account, subaccount);
        if (index >> path.length != 0) revert MalformedLeaf(leaf.length);

        // the equity (signs checked here, before any hashing), then the proof
        int256 equity = _signed(leaf, 10);
        for (uint256 m = 0; m < marketCount; ++m) {
            equity += _signed(leaf, 14 + 4 * m) * int256(lastMarks[m]) * multipliers[m];
        }
        uint256[8] memory node = hasher.pathRoot(hasher.hash(leaf), index, path);
        bytes32 got = _toBytes32(hasher.compress(node, header));
        if (got != stateRoot) revert AccountProofMismatch(stateRoot, got);
        if (equity <= 0) revert NoEquity(equity);
        escaped[key] = true;
        _push(account, uint256(equity));
        emit Escaped(account, subaccount, uint256(equity));
    }

    /// @notice After the freeze, return a deposit no proved batch consumed to its depositor.
    function reclaimDeposit(uint256 index) external {
        if (!frozen) revert ExchangeNotFrozen();
        if (index >= queue.length) revert UnknownRequest(index);
        L1Request storage r = queue[index];
        if (r.kind != KIND_DEPOSIT || index < queueConsumed || r.reclaimed) revert NotReclaimable(index);
        r.reclaimed = true;
        _push(r.account, r.amount);
        emit DepositReclaimed(index, r.account, r.amount);
    }

    // ------------------------------------------------------------------ reads

    /// @notice How many L1 requests are queued (consumed or not).
    function queueLength() external view returns (uint256) {
        return queue.length;
    }

    /// @notice Whether (account, subaccount) has escaped.
    function hasEscaped(address account, uint16 subaccount) external view returns (bool) {
        return escaped[keccak256(abi.encode(account, subaccount))];
    }

    // ------------------------------------------------------------------ internals

    function _enqueue(uint8 kind, uint16 subaccount, uint256 amount) private returns (uint256 index) {
        index = queue.length;
        queue.push(L1Request(kind, msg.sender, subaccount, false, uint64(amount), uint64(block.timestamp)));
    }

    function _checkAmount(uint256 amount) private pure {
        if (amount == 0 || amount >= AMOUNT_LIMIT) revert BadAmount(amount);
    }

    /// @dev Every report signed by a configured source; the round not older than the last.
    function _checkOracle(OracleRound calldata o) private view returns (bytes32) {
        if (o.timestampMs < lastOracleTimestampMs) revert StaleOracleRound(lastOracleTimestampMs, o.timestampMs);
        for (uint256 i = 0; i < o.reports.length; ++i) {
            PriceReport calldata r = o.reports[i];
            if (!isOracleSource[r.source]) revert UnknownOracleSource(r.source);
            if (_recover(_reportDigest(r), r.signature) != r.source) revert BadOracleSignature(i);
        }
        return _oracleDigest(o);
    }

    function _reportDigest(PriceReport calldata r) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(REPORT_TAG, abi.encode(r.market, r.price, r.timestampMs, r.source)));
    }

    /// @dev settlement/oracle.py OracleRound.digest: keccak(tag, id, time, Merkle root of the
    ///      reports' keccak(digest || signature)); crypto/keccak.py's tree (0x00 leaves, 0x01
    ///      nodes, an odd node carried up).
    function _oracleDigest(OracleRound calldata o) private pure returns (bytes32) {
        uint256 n = o.reports.length;
        bytes32 root;
        if (n > 0) {
            bytes32[] memory level = new bytes32[](n);
            for (uint256 i = 0; i < n; ++i) {
                PriceReport calldata r = o.reports[i];
                bytes32 leaf = keccak256(abi.encodePacked(_reportDigest(r), r.signature));
                level[i] = keccak256(abi.encodePacked(bytes1(0x00), leaf));
            }
            while (n > 1) {
                uint256 half = n / 2;
                for (uint256 i = 0; i < half; ++i) {
                    level[i] = keccak256(abi.encodePacked(bytes1(0x01), level[2 * i], level[2 * i + 1]));
                }
                if (n % 2 == 1) {
                    level[half] = level[n - 1];
                    n = half + 1;
                } else {
                    n = half;
                }
            }
            root = level[0];
        }
        return keccak256(abi.encodePacked(REPORT_TAG, abi.encode(o.roundId, o.timestampMs), root));
    }

    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }

    /// @dev The k-th forced withdrawal the batch consumes is served by the statement's k-th
    ///      withdrawal: the same account and subaccount, at most the amount asked (0 when the
    ///      account had no free collateral; the batch AIR must prove the amount, see
    ///      docs/contracts.md "Limits").
    function _checkForcedServed(Statement calldata s, uint256 consumed) private view {
        uint256 k;
        for (uint256 i = consumed; i < s.queueTo; ++i) {
            L1Request storage r = queue[i];
            if (r.kind != KIND_FORCED_WITHDRAWAL) continue;
            if (k >= s.withdrawals.length) revert ForcedWithdrawalNotServed(i);
            Withdrawal calldata w = s.withdrawals[k];
            if (w.account != r.account || w.subaccount != r.subaccount || w.amount > r.amount) {
                revert ForcedWithdrawalNotServed(i);
            }
            ++k;
        }
    }

    /// @dev The shape of the operator's values: one per market, whole RFQ blocks.
    function _checkShape(Statement calldata s) private view {
        if (s.markets.length != marketCount) revert MarketValuesMismatch(marketCount, s.markets.length);
        if (s.blockElements.length % BLOCK_ELEMENTS != 0) revert MalformedBlocks(s.blockElements.length);
    }

    /// @dev The inputs digest of docs/formats.md ("Batch digests"), from what L1 knows, in
    ///      whole rate-8 blocks (the batch AIR absorbs one per row): [INPUTS_DOMAIN, batch id ×3,
    ///      round id ×3, 0], [round time ×3, 0 ×5], [oracle digest ×8]; then the deposits this
    ///      batch consumes from the queue (two blocks each, see _putTransfer), the RFQ blocks
    ///      (four blocks each: [BLOCK_TAG, market, price, quantity, 0 ×4], [id ×8],
    ///      [buyer ×7, 0], [seller ×7, 0]) and the withdrawals it pays (two blocks each).
    function _inputsDigest(Statement calldata s, uint256 consumed, bytes32 oracleDigest)
        private
        view
        returns (uint256[8] memory)
    {
        uint256 deposits;
        for (uint256 i = consumed; i < s.queueTo; ++i) {
            if (queue[i].kind == KIND_DEPOSIT) ++deposits;
        }
        uint256 blocks = s.blockElements.length / BLOCK_ELEMENTS;
        uint256[] memory e = new uint256[](24 + 16 * deposits + 32 * blocks + 16 * s.withdrawals.length);
        e[0] = INPUTS_DOMAIN;
        _putLimbs(e, 1, s.lastBatchId);
        _putLimbs(e, 4, s.oracle.roundId);
        _putLimbs(e, 8, s.oracle.timestampMs);
        _putDigest(e, 16, _bytes32Elements(oracleDigest));
        uint256 at = 24;
        for (uint256 i = consumed; i < s.queueTo; ++i) {
            L1Request storage r = queue[i];
            if (r.kind != KIND_DEPOSIT) continue;
            at = _putTransfer(e, at, DEPOSIT_TAG, r.account, r.subaccount, r.amount);
        }
        for (uint256 i = 0; i < s.blockElements.length; ++i) {
            if (s.blockElements[i] >= P) revert NotFieldElement(s.blockElements[i]);
        }
        for (uint256 b = 0; b < blocks; ++b) {
            uint256 from = b * BLOCK_ELEMENTS;
            e[at] = BLOCK_TAG;
            e[at + 1] = s.blockElements[from + 8]; // market code
            e[at + 2] = s.blockElements[from + 23]; // price
            e[at + 3] = s.blockElements[from + 24]; // quantity
            for (uint256 k = 0; k < 8; ++k) {
                e[at + 8 + k] = s.blockElements[from + k]; // block id
            }
            for (uint256 k = 0; k < 7; ++k) {
                e[at + 16 + k] = s.blockElements[from + 9 + k]; // buyer
                e[at + 24 + k] = s.blockElements[from + 16 + k]; // seller
            }
            at += 32;
        }
        uint256 forced = _forcedCount(consumed, s.queueTo);
        for (uint256 i = 0; i < s.withdrawals.length; ++i) {
            Withdrawal calldata w = s.withdrawals[i];
            // only a forced withdrawal may be served with nothing
            if ((w.amount == 0 && i >= forced) || w.amount >= AMOUNT_LIMIT) revert BadAmount(w.amount);
            at = _putTransfer(e, at, WITHDRAWAL_TAG, w.account, w.subaccount, w.amount);
        }
        return hasher.hash(e);
    }

    function _forcedCount(uint256 from, uint256 to) private view returns (uint256 n) {
        for (uint256 i = from; i < to; ++i) {
            if (queue[i].kind == KIND_FORCED_WITHDRAWAL) ++n;
        }
    }

    /// @dev A deposit or withdrawal as two blocks, [tag, amount as six 12-bit digits, 0] and
    ///      [address ×7, subaccount]; returns the next position.
    function _putTransfer(uint256[] memory e, uint256 at, uint256 tag, address account, uint16 subaccount, uint256 amount)
        private
        pure
        returns (uint256)
    {
        e[at] = tag;
        for (uint256 k = 0; k < 6; ++k) {
            e[at + 1 + k] = (amount >> (12 * k)) & 0xFFF;
        }
        _putAddress(e, at + 8, account);
        e[at + 15] = subaccount;
        return at + 16;
    }

    /// @dev The batch AIR's public inputs (docs/stark.md, "The batch AIR"): batch id ×3,
    ///      pre-root ×8, post-root ×8, commitment root ×8, inputs digest ×8, outputs digest ×8,
    ///      m, then per market price, funding index ×4 (signed), mark price, order count, then
    ///      the settlement statement's elements as the operator states them.
    function _publicInputs(Statement calldata s, uint256[8] memory inputsDigest)
        private
        view
        returns (uint256[] memory pi)
    {
        uint256 perMarket = PUBLIC_HEADER + PUBLIC_PER_MARKET * marketCount;
        pi = new uint256[](perMarket + s.settlement.length);
        for (uint256 i = 0; i < s.settlement.length; ++i) {
            if (s.settlement[i] >= P) revert NotFieldElement(s.settlement[i]);
            pi[perMarket + i] = s.settlement[i];
        }
        _putLimbs(pi, 0, s.lastBatchId);
        _checkDigest(stateRoot);
        _checkDigest(s.postRoot);
        _checkDigest(s.commitmentRoot);
        _checkDigest(s.outputsDigest);
        _putDigest(pi, 3, _fromBytes32(stateRoot));
        _putDigest(pi, 11, _fromBytes32(s.postRoot));
        _putDigest(pi, 19, _fromBytes32(s.commitmentRoot));
        _putDigest(pi, 27, inputsDigest);
        _putDigest(pi, 35, _fromBytes32(s.outputsDigest));
        pi[43] = marketCount;
        for (uint256 m = 0; m < marketCount; ++m) {
            MarketValues calldata v = s.markets[m];
            uint256 at = PUBLIC_HEADER + PUBLIC_PER_MARKET * m;
            if (v.price >= P) revert NotFieldElement(v.price);
            if (v.mark >= P) revert NotFieldElement(v.mark);
            if (v.orders >= P) revert NotFieldElement(v.orders);
            pi[at] = v.price;
            int256 f = v.fundingIndex;
            uint256 mag = f < 0 ? uint256(-f) : uint256(f);
            if (mag >= 1 << 72) revert NotFieldElement(mag);
            pi[at + 1] = f < 0 ? 1 : 0;
            pi[at + 2] = mag & LIMB_MASK;
            pi[at + 3] = (mag >> 24) & LIMB_MASK;
            pi[at + 4] = (mag >> 48) & LIMB_MASK;
            pi[at + 5] = v.mark;
            pi[at + 6] = v.orders;
        }
    }

    function _putDigest(uint256[] memory e, uint256 at, uint256[8] memory d) private pure {
        for (uint256 i = 0; i < 8; ++i) {
            e[at + i] = d[i];
        }
    }

    /// @dev `v` (below 2^72) as three 24-bit limbs, least significant first.
    function _putLimbs(uint256[] memory e, uint256 at, uint256 v) private pure {
        e[at] = v & LIMB_MASK;
        e[at + 1] = (v >> 24) & LIMB_MASK;
        e[at + 2] = (v >> 48) & LIMB_MASK;
    }

    /// @dev auction/commitment.py bytes32_elements: word i is bytes 4i..4i+3 little-endian, mod p.
    function _bytes32Elements(bytes32 data) private pure returns (uint256[8] memory d) {
        d = _fromBytes32(data);
        for (uint256 i = 0; i < 8; ++i) {
            d[i] %= P;
        }
    }

    /// @dev An address as seven 24-bit limbs, least significant first.
    function _putAddress(uint256[] memory e, uint256 at, address a) private pure {
        uint256 v = uint160(a);
        for (uint256 k = 0; k < 7; ++k) {
            e[at + k] = (v >> (24 * k)) & LIMB_MASK;
        }
    }

    function _address(uint256[] calldata leaf) private pure returns (address) {
        uint256 v;
        for (uint256 k = 0; k < 7; ++k) {
            v |= leaf[1 + k] << (24 * k);
        }
        if (v >> 160 != 0) revert MalformedLeaf(7);
        return address(uint160(v));
    }

    /// @dev [sign, l0, l1, l2] → the integer (limbs already checked below 2^24).
    function _signed(uint256[] calldata leaf, uint256 at) private pure returns (int256) {
        uint256 sign = leaf[at];
        if (sign > 1) revert MalformedLeaf(at);
        int256 mag = int256(leaf[at + 1] | (leaf[at + 2] << 24) | (leaf[at + 3] << 48));
        if (sign == 1 && mag == 0) revert MalformedLeaf(at);
        return sign == 1 ? -mag : mag;
    }

    function _checkDigest(bytes32 d) private pure {
        uint256[8] memory v = _fromBytes32(d);
        for (uint256 i = 0; i < 8; ++i) {
            if (v[i] >= P) revert NotFieldElement(v[i]);
        }
    }

    /// @dev crypto/poseidon2.py digest_from_bytes: element i is bytes 4i..4i+3, little-endian.
    function _fromBytes32(bytes32 data) private pure returns (uint256[8] memory d) {
        uint256 word = uint256(data);
        for (uint256 i = 0; i < 8; ++i) {
            uint256 v = (word >> (224 - 32 * i)) & 0xffffffff;
            d[i] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >> 8) & 0xff00) | ((v >> 24) & 0xff);
        }
    }

    function _toBytes32(uint256[8] memory d) private pure returns (bytes32) {
        uint256 acc;
        for (uint256 i = 0; i < 8; ++i) {
            uint256 v = d[i];
            acc |= (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >> 8) & 0xff00) | ((v >> 24) & 0xff))
                << (224 - 32 * i);
        }
        return bytes32(acc);
    }

    function _pull(address from, uint256 amount) private {
        (bool ok, bytes memory ret) =
            address(token).call(abi.encodeCall(IERC20.transferFrom, (from, address(this), amount)));
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) revert TransferFailed();
    }

    function _push(address to, uint256 amount) private {
        (bool ok, bytes memory ret) = address(token).call(abi.encodeCall(IERC20.transfer, (to, amount)));
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) revert TransferFailed();
    }
}
