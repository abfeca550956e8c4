// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "./IERC20.sol";
import {IPoseidon2Hasher} from "./IPoseidon2Hasher.sol";
import {IStarkVerifier} from "./IStarkVerifier.sol";
import {OracleIndex, OracleRound, PriceReport} from "./OracleIndex.sol";

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
///      `nextBatchId - 1` (the genesis root before any batch). Ids only grow; they may skip
///      (an interval without a batch), the pre-root check keeps the roots chained. A statement names a batch range
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
    /// @notice Public inputs before the per-market values: batch id ×3, five digests ×8, m,
    ///         the number of commitments under the commitment root.
    uint256 public constant PUBLIC_HEADER = 45;
    /// @notice Public inputs per market: price, funding index ×4 (signed), mark, order count,
    ///         reference price, then the post-state's index price, index time ×2 (24-bit
    ///         limbs) and oracle flag, which the contract derives from the oracle round.
    uint256 public constant PUBLIC_PER_MARKET = 12;
    /// @notice Bus tags of the batch AIR's public tables (settlement/batch_air/framework.py):
    ///         the contract builds `TAG_MARKET` and `TAG_CNODE` from the public inputs.
    uint32 public constant TAG_MARKET = 3;
    uint32 public constant TAG_ORDER = 4;
    uint32 public constant TAG_CNODE = 7;
    uint32 public constant TAG_ADJUST = 20;
    uint32 public constant TAG_STAGED = 23;
    uint32 public constant TAG_CARRIED = 35;
    /// @notice 8-element digests in the settlement statement after its four counts: the pre-
    ///         and post-state roots (SettleStatement.to_elements).
    uint256 public constant SETTLE_DIGESTS = 2;
    /// @notice 12-bit digits of a derived per-market constant, of the conservation target and
    ///         of the fee pool's change (the batch's fees).
    uint256 public constant DERIVED_DIGITS = 5;
    uint256 public constant TARGET_DIGITS = 7;
    uint256 public constant FEE_POOL_DIGITS = 6;
    /// @notice Most margin tiers per market (settle_witness.py MAX_TIERS).
    uint256 public constant MAX_TIERS = 8;
    /// @notice Depth of the commitment tree (auction/commitment.py COMMITMENT_TREE_DEPTH).
    uint256 public constant COMMITMENT_TREE_DEPTH = 20;
    /// @dev auction/commitment.py EMPTY_SUBTREES[0..20]: 32 bytes a level, its 8 elements as
    ///      big-endian u32 (the all-zero leaf, then compress(E, E) upwards; a test recomputes
    ///      them with Poseidon2).
    bytes private constant EMPTY_SUBTREES =
        hex"0000000000000000000000000000000000000000000000000000000000000000"
        hex"4fbe128f6ddb6385138ea3aa3978aaa4515f7e565553ca030c86478d486a64eb"
        hex"668880603d511d0a21cf3f0a5d11424837493ccd740d3539470b97c45153855c"
        hex"5169f80458fe2dc25b1a541006285a374660df936800c02d324dd378011a64ef"
        hex"04e39a832416c9cc2b464d70471099ec22d8d7e61148f6b55df887e66df412ea"
        hex"4139e06c309035681dd3de4058a1f1202d7792b635c0eb966de4095009edd5ec"
        hex"76bfc81a4225b5b564b7016d18ccad8719267db1113885ab2a0e9c1d63b19761"
        hex"151d61574a9139c672a607b41af1cd78158d97074e19c1666a134438201df40c"
        hex"39539f80123d0b3c74e3f5d55108b3c847cd73e44ffebdca1bc1049d2c24714f"
        hex"2e662ff314174501040e1e2e7654c2b9612a39e456f9897769ffb778000d410f"
        hex"7471a8815b37c22f0ad9528e6dde52dc3a721a79385c41835ec9c42d21d14022"
        hex"2c13f45b56c9a7110b20187c16cb55b65c346903291d210d164aeaa577153358"
        hex"54f3be232dc2660e61b1a68f02b3f1dd200a87504b6ff5a4486489022a6fc1a4"
        hex"3ca051790b0cade72e86e3ce656725e42c2a878e1bbb844366d120606f619a3b"
        hex"4586d1e83784cf7164e33d93086c618e449d138023fee221180095353b1d5607"
        hex"200a2a9b3252da3e3e43182309cdcece61d82109004db33653e593cf74f428fb"
        hex"60b0985e0dbe45c40c7fcce02e5543762618dfd8064fbb54649afd6c6c8c91a1"
        hex"2a4116623607f8de588b6814741fb7b72508e7eb185a993266a65c64655b4a38"
        hex"1651419e1752336c35ce74f5240137e95111f5ac54aa520f47f6b69e1786ae08"
        hex"241faf7a6b63c2400e27f2c833fd3f8952d48fbe417581ba3d2769893ec63d73"
        hex"238ecae15e63cbfb22b568764b2d5aa0617d276a53d9c7d1321b133e319b2ea5";
    /// @notice Amounts, like every ledger value, stay below 2^62 (auction/bounds.py MAX_BALANCE + 1).
    uint256 public constant AMOUNT_LIMIT = 1 << 62;
    /// @notice Kinds of L1 requests in the queue.
    uint8 public constant KIND_DEPOSIT = 1;
    uint8 public constant KIND_FORCED_WITHDRAWAL = 2;
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

    /// @notice One market's public values after the batch.
    struct MarketValues {
        uint256 price; // clearing price in ticks, 0 when the market did not trade
        int256 fundingIndex; // cumulative funding per lot, base units
        uint256 mark; // mark price in ticks
        uint256 orders; // orders of the market in the batch
        uint256 referencePrice; // the clearing's reference price in ticks, 0: none
    }

    /// @notice What the operator states for a batch range; the contract derives the rest.
    struct Statement {
        uint64 firstBatchId;
        uint64 lastBatchId;
        bytes32 preRoot;
        bytes32 postRoot;
        bytes32 commitmentRoot; // the batch's seed (result.json)
        bytes32 outputsDigest;
        uint256 commitments; // how many commitments the commitment root holds
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
    /// @notice The statement's first batch is not after the last anchored batch (`expected` is the least id).
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
    /// @notice A deposit below `minDeposit` base units.
    error DepositBelowMinimum(uint256 minimum, uint256 amount);
    /// @notice A deposit from an account (address, subaccount) that has never deposited, when
    ///         `capacity` accounts have: the verifiers fixed at deployment take no larger
    ///         account tree, so no batch could ever consume it (docs/contracts.md, "Limits").
    error AccountCapacityReached(uint256 capacity);
    /// @notice A forced withdrawal for an account (address, subaccount) that never deposited
    ///         through this contract: the ledger holds no such account, so no batch could serve it.
    error NoDeposit(address account, uint16 subaccount);
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
    /// @notice No verifier `shape` among the `count` fixed at deployment.
    error UnknownShape(uint256 shape, uint256 count);
    /// @notice A constructor argument is out of range.
    error BadConfig(string what);
    /// @notice The batch needs rows in public table `tag`, which only the published batch
    ///         files give (O(batch)); the contract derives its tables from the statement alone.
    error TableNotDerivable(uint32 tag);
    /// @notice The reference price of market `market` is not the mark of the last anchored batch.
    error ReferenceMismatch(uint256 market, uint256 expected, uint256 got);
    /// @notice Settlement statement element `at` is not what the contract derives (its roots,
    ///         multipliers and marks are the contract's; its derived digits follow from it).
    error SettlementMismatch(uint256 at);
    /// @notice More commitments than the commitment tree holds.
    error CommitmentCountInvalid(uint256 count);
    /// @notice Market `market`'s fee or margin term `field` in the settlement statement is not
    ///         the one fixed at deployment (`marketTerms`): field 0 is the fee (bps), 1 the
    ///         liquidation penalty (bps), 2 the tier count, 3 + 2k tier k's max_lots, 4 + 2k its
    ///         maintenance bps, and 3 + 2n (n tiers) tier 0's initial bps.
    error MarketTermMismatch(uint256 market, uint256 field, uint256 expected, uint256 got);
    /// @notice The settlement statement's index price (its mark where there is no index) or oracle flag of a market is not the one
    ///         the contract reads from the oracle round (or carries over while flagged).
    error IndexMismatch(uint256 market, uint256 index, uint256 flagged);

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

    /// @notice The first STARK verifier of the batch AIR (`verifiers(0)`).
    IStarkVerifier public immutable verifier;
    /// @notice The batch AIR's STARK verifiers, one per batch shape (one constraint program,
    ///         one row count), fixed by the constructor: no function adds, removes or replaces
    ///         one, so not even the operator can anchor under a verifier chosen later.
    IStarkVerifier[] public verifiers;
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
    /// @notice The most accounts (address, subaccount) deposits may open: those beyond it are
    ///         refused (`AccountCapacityReached`), so every queued deposit fits an account tree
    ///         the verifiers take and a proved batch can consume it (docs/contracts.md, "Limits").
    uint256 public immutable accountCapacity;
    /// @notice The least amount (base units) a deposit may carry: opening accounts up to
    ///         `accountCapacity` costs `minDeposit` each.
    uint256 public immutable minDeposit;

    /// @notice Contract multiplier per market (base units per lot per tick), in id order.
    int256[] public multipliers;
    /// @notice Market code per market (auction/commitment.py market_code), in id order.
    uint256[] public marketCodes;
    /// @dev Each market's fee, penalty and margin terms, fixed at deployment (settlement/params.py
    ///      MarketRisk): [fee_bps, liquidation penalty bps, tier count, then max_lots and
    ///      maintenance bps of each tier, then tier 0's initial bps],
    ///      in id order; the settlement statement of every anchored batch must carry exactly
    ///      these (`marketTerms` reads them).
    uint256[][] private fixedTerms;
    /// @notice Tags of the verifier's public tables that only the published files give: the
    ///         contract sends none of their rows and refuses a batch that visibly needs them.
    uint32[] public operatorTables;
    /// @notice Whether an address is a configured oracle source (`oracleIndex`'s sources).
    mapping(address => bool) public isOracleSource;
    /// @notice Reads each market's index from an oracle round by the rules fixed at deployment
    ///         (settlement/oracle.py `read_index`); its sources are the ones accepted here.
    OracleIndex public immutable oracleIndex;

    // ------------------------------------------------------------------ state

    /// @notice The id of the next batch to anchor (the one after the last anchored batch).
    uint64 public nextBatchId;
    /// @notice The state root after batch `nextBatchId - 1` (settlement/roots.py `state_root`).
    bytes32 public stateRoot;
    /// @notice Mark price per market at `stateRoot` (the escape's equity uses them; the
    ///         next batch's reference prices must be them): the genesis root's from the
    ///         constructor, then each anchored batch's.
    uint256[] public lastMarks;
    /// @notice Per market, the last trusted index at `stateRoot` as `price << 64 | timeMs`
    ///         (0: none yet): the genesis root's from the constructor, then each anchored
    ///         batch's. A batch whose oracle round flags a market must carry these over.
    uint256[] public lastIndexes;
    /// @notice Time (ms) of the oracle round of the last anchored batch.
    uint64 public lastOracleTimestampMs;
    /// @notice Every L1 request in arrival order.
    L1Request[] public queue;
    /// @notice How many requests proved batches consumed (a prefix of `queue`).
    uint256 public queueConsumed;
    /// @notice Tokens credited by proved batches and not withdrawn yet, per address.
    mapping(address => uint256) public withdrawable;
    /// @notice Whether an account (address, subaccount) has queued a deposit: only such an
    ///         account may request a forced withdrawal (the ledger then holds it, so a batch can
    ///         serve the request, with nothing if it has no free collateral).
    mapping(address => mapping(uint16 => bool)) public hasDeposited;
    /// @notice Whether the exchange is frozen (set once, never cleared).
    bool public frozen;
    /// @notice How many accounts (address, subaccount) have deposited (`hasDeposited`), at most
    ///         `accountCapacity`.
    uint64 public depositedAccounts;
    /// @notice Whether an account (address, subaccount) has escaped.
    mapping(bytes32 => bool) public escaped;

    /// @notice The deployment's parameters (the constructor's last argument).
    struct Config {
        uint64 firstBatchId; // the id of the first batch to anchor
        bytes32 genesisRoot; // the state root before that batch
        uint256 forcedWithdrawalDelay; // seconds before an unserved forced withdrawal allows a freeze
        OracleIndex oracleIndex; // the sources whose signatures the contract accepts, the index rules
        int256[] multipliers; // contract multiplier per market, in id order
        uint256[] marketCodes; // market code per market, in id order
        uint256[] feeBps; // fee per fill per market (bps of the notional), in id order
        uint256[] penaltyBps; // liquidation penalty per market (bps of the notional), in id order
        uint256[][] marginTiers; // per market: max_lots, maintenance bps of each tier, in order
        uint256[] initialBps; // tier 0's initial bps per market (liquidation per_lot), in id order
        uint256[] genesisMarks; // mark per market at the genesis root, in id order (empty: none known)
        uint32[] operatorTables; // the verifier's public tables only the published files give
        uint256[] genesisIndexes; // per market at the genesis root: index << 64 | its time (empty: none)
        uint256 accountCapacity; // the most accounts deposits may open (the verifiers' tree, less genesis accounts)
        uint256 minDeposit; // the least amount a deposit may carry (base units, below 2^62)
    }

    /// @param verifiers_ The batch AIR's STARK verifiers, one per batch shape (at least one).
    /// @param hasher_ The Poseidon2 hasher.
    /// @param token_ The collateral token.
    /// @param operator_ The address that anchors batches.
    /// @param c The deployment's parameters.
    constructor(IStarkVerifier[] memory verifiers_, IPoseidon2Hasher hasher_, IERC20 token_, address operator_, Config memory c) {
        if (c.multipliers.length == 0) revert BadConfig("markets");
        if (c.marketCodes.length != c.multipliers.length) revert BadConfig("marketCodes");
        if (c.feeBps.length != c.multipliers.length) revert BadConfig("feeBps");
        if (c.penaltyBps.length != c.multipliers.length) revert BadConfig("penaltyBps");
        if (c.marginTiers.length != c.multipliers.length) revert BadConfig("marginTiers");
        if (c.initialBps.length != c.multipliers.length) revert BadConfig("initialBps");
        if (c.genesisMarks.length != 0 && c.genesisMarks.length != c.multipliers.length) {
            revert BadConfig("genesisMarks");
        }
        if (c.genesisIndexes.length != 0 && c.genesisIndexes.length != c.multipliers.length) {
            revert BadConfig("genesisIndexes");
        }
        if (c.oracleIndex.marketCount() != c.multipliers.length) revert BadConfig("oracleIndex");
        if (c.forcedWithdrawalDelay == 0) revert BadConfig("forcedWithdrawalDelay");
        if (verifiers_.length == 0) revert BadConfig("verifiers");
        if (c.accountCapacity >= 1 << 64) revert BadConfig("accountCapacity");
        if (c.minDeposit >= AMOUNT_LIMIT) revert BadConfig("minDeposit");
        _checkDigest(c.genesisRoot);
        verifier = verifiers_[0];
        for (uint256 i = 0; i < verifiers_.length; ++i) {
            verifiers.push(verifiers_[i]);
        }
        hasher = hasher_;
        token = token_;
        operator = operator_;
        forcedWithdrawalDelay = c.forcedWithdrawalDelay;
        marketCount = c.multipliers.length;
        accountCapacity = c.accountCapacity;
        minDeposit = c.minDeposit;
        for (uint256 m = 0; m < c.multipliers.length; ++m) {
            if (c.multipliers[m] <= 0) revert BadConfig("multiplier");
            if (c.marketCodes[m] >= P) revert BadConfig("marketCode");
            multipliers.push(c.multipliers[m]);
            marketCodes.push(c.marketCodes[m]);
            uint256 mark = c.genesisMarks.length == 0 ? 0 : c.genesisMarks[m];
            if (mark >= 1 << 30) revert BadConfig("genesisMarks");
            lastMarks.push(mark);
            uint256 index = c.genesisIndexes.length == 0 ? 0 : c.genesisIndexes[m];
            if (index >> 64 >= 1 << 30 || uint64(index) >= 1 << 48) revert BadConfig("genesisIndexes");
            lastIndexes.push(index);
            fixedTerms.push(_terms(c.feeBps[m], c.penaltyBps[m], c.marginTiers[m], c.initialBps[m]));
        }
        oracleIndex = c.oracleIndex;
        for (uint256 i = 0; i < c.oracleIndex.sourceCount(); ++i) {
            isOracleSource[c.oracleIndex.sources(i)] = true;
        }
        for (uint256 i = 0; i < c.operatorTables.length; ++i) {
            uint32 tag = c.operatorTables[i];
            if (tag == TAG_MARKET || tag == TAG_CNODE) revert BadConfig("operatorTables");
            operatorTables.push(tag);
        }
        nextBatchId = c.firstBatchId;
        stateRoot = c.genesisRoot;
    }

    /// @dev One market's terms from the constructor's arguments, in the ranges the batch AIR
    ///      takes (settle_witness.py `_check_margin`): a fee and a penalty of at most 10 000
    ///      bps each, 1 to MAX_TIERS tiers of increasing max_lots below 2^22 and 1 to 10 000 bps,
    ///      and tier 0's initial bps between its maintenance bps and 10 000.
    function _terms(uint256 fee, uint256 penalty, uint256[] memory tiers, uint256 initialBps)
        private
        pure
        returns (uint256[] memory t)
    {
        if (fee > 10_000) revert BadConfig("feeBps");
        if (penalty > 10_000) revert BadConfig("penaltyBps");
        uint256 n = tiers.length / 2;
        if (tiers.length % 2 != 0 || n == 0 || n > MAX_TIERS) revert BadConfig("marginTiers");
        t = new uint256[](4 + 2 * n);
        t[0] = fee;
        t[1] = penalty;
        t[2] = n;
        uint256 prev;
        for (uint256 k = 0; k < n; ++k) {
            uint256 lots = tiers[2 * k];
            uint256 bps = tiers[2 * k + 1];
            if (lots <= prev || lots >= 1 << 22 || bps == 0 || bps > 10_000) revert BadConfig("marginTiers");
            t[3 + 2 * k] = lots;
            t[4 + 2 * k] = bps;
            prev = lots;
        }
        if (initialBps < t[4] || initialBps > 10_000) revert BadConfig("initialBps");
        t[3 + 2 * n] = initialBps;
    }

    // ------------------------------------------------------------------ traders

    /// @notice Deposit `amount` base units of collateral to (sender, `subaccount`); the first
    ///         proved batch that consumes the request credits it in the ledger. At least
    ///         `minDeposit` (`DepositBelowMinimum`); an account that never deposited opens one
    ///         of the `accountCapacity` (`AccountCapacityReached` once all are open: an account
    ///         that deposited before always may again).
    /// @dev The sender must have approved this contract for `amount`.
    function deposit(uint16 subaccount, uint256 amount) external returns (uint256 index) {
        if (frozen) revert ExchangeFrozen();
        _checkAmount(amount);
        if (amount < minDeposit) revert DepositBelowMinimum(minDeposit, amount);
        if (!hasDeposited[msg.sender][subaccount]) {
            uint64 opened = depositedAccounts;
            if (opened >= accountCapacity) revert AccountCapacityReached(accountCapacity);
            depositedAccounts = opened + 1;
            hasDeposited[msg.sender][subaccount] = true;
        }
        index = _enqueue(KIND_DEPOSIT, subaccount, amount);
        _pull(msg.sender, amount);
        emit Deposited(index, msg.sender, subaccount, amount);
    }

    /// @notice Ask the operator to withdraw up to `amount` base units of (sender, `subaccount`)'s
    ///         free collateral; a proved batch must consume the request within
    ///         `forcedWithdrawalDelay` seconds, serving it with a withdrawal to the same account
    ///         (of at most `amount`; of nothing when there is no free collateral), else anyone
    ///         may `freeze` the exchange. Only an account that deposited through this contract
    ///         may ask (`NoDeposit`): a request for an account the ledger does not hold could
    ///         never be served, and would let anyone freeze the exchange.
    function requestForcedWithdrawal(uint16 subaccount, uint256 amount) external returns (uint256 index) {
        if (frozen) revert ExchangeFrozen();
        _checkAmount(amount);
        if (!hasDeposited[msg.sender][subaccount]) revert NoDeposit(msg.sender, subaccount);
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
        _anchor(0, s, proof);
    }

    /// @notice `anchor` with the proof checked by verifier `shape` (the batch's shape among the
    ///         verifiers fixed at deployment).
    /// @param shape Index into `verifiers`.
    /// @param s What the operator states.
    /// @param proof The batch proof.
    function anchorWith(uint256 shape, Statement calldata s, bytes calldata proof) external {
        _anchor(shape, s, proof);
    }

    /// @notice Market `market`'s fee, penalty and margin terms fixed at deployment: [fee_bps,
    ///         liquidation penalty bps, tier count, then each tier's max_lots and maintenance
    ///         bps, then tier 0's initial bps], as the settlement statement carries them.
    function marketTerms(uint256 market) external view returns (uint256[] memory) {
        return fixedTerms[market];
    }

    /// @notice Number of verifiers (batch shapes) the exchange was deployed with.
    function verifierCount() external view returns (uint256) {
        return verifiers.length;
    }

    function _anchor(uint256 shape, Statement calldata s, bytes calldata proof) private {
        // 1. who, and whether the exchange still runs
        if (msg.sender != operator) revert NotOperator(msg.sender);
        if (frozen) revert ExchangeFrozen();
        // 2. the chain: a later batch, from the stored root (the venue leaves no batch for an
        //    interval in which nothing happened, so ids may skip; the pre-root still chains)
        if (s.firstBatchId < nextBatchId) revert BatchIdMismatch(nextBatchId, s.firstBatchId);
        if (s.lastBatchId != s.firstBatchId) revert RangeNotSupported(s.firstBatchId, s.lastBatchId);
        if (s.preRoot != stateRoot) revert PreRootMismatch(stateRoot, s.preRoot);
        // 3. the L1 requests it consumes: a prefix of what is queued
        uint256 consumed = queueConsumed;
        if (s.queueTo < consumed || s.queueTo > queue.length) {
            revert QueueRangeInvalid(consumed, queue.length, s.queueTo);
        }
        _checkShape(s);
        _checkForcedServed(s, consumed);
        _checkReferences(s);
        _checkOperatorTables(s);
        // 4. the oracle round, not older than the last: every report signed by a configured
        //    source, and each market's index after the batch read from it (`oracleIndex`)
        if (s.oracle.timestampMs < lastOracleTimestampMs) {
            revert StaleOracleRound(lastOracleTimestampMs, s.oracle.timestampMs);
        }
        (bytes32 oracleDigest, uint256[] memory indexes) = _readOracle(s.oracle);
        // 5. the public inputs and tables, derived here; the verifier must accept the proof for
        //    exactly them
        uint256[8] memory inputsDigest = _inputsDigest(s, consumed, oracleDigest);
        uint256[] memory publicInputs = _publicInputs(s, inputsDigest, indexes);
        _checkSettlement(s, indexes);
        bytes memory tables = _tables(s);
        if (shape >= verifiers.length) revert UnknownShape(shape, verifiers.length);
        try verifiers[shape].verifyWithTables(publicInputs, tables, proof) returns (bool ok) {
            if (!ok) revert ProofRejected("");
        } catch (bytes memory reason) {
            revert ProofRejected(reason);
        }
        // 6. apply: the root, the marks and indexes, the consumed requests, the credited withdrawals
        bytes32 preRoot = stateRoot;
        nextBatchId = s.lastBatchId + 1;
        stateRoot = s.postRoot;
        lastOracleTimestampMs = s.oracle.timestampMs;
        for (uint256 m = 0; m < marketCount; ++m) {
            lastMarks[m] = s.markets[m].mark;
            if (indexes[m] >> 128 == 0) lastIndexes[m] = indexes[m];
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
        (bytes32 oracleDigest, uint256[] memory indexes) = _readOracle(s.oracle);
        return _publicInputs(s, _inputsDigest(s, queueConsumed, oracleDigest), indexes);
    }

    /// @notice The public tables `anchor` would hand the verifier for `s` (packed as
    ///         crypto/solidity.py `encode_tables`): the market table and the commitment
    ///         tree's root and empty subtrees, all from the statement.
    function tablesFor(Statement calldata s) external view returns (bytes memory) {
        _checkShape(s);
        return _tables(s);
    }

    /// @notice How many public tables only the published files give (`operatorTables`).
    function operatorTableCount() external view returns (uint256) {
        return operatorTables.length;
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

    /// @dev The round's digest (settlement/oracle.py OracleRound.digest) and each market's index
    ///      after the batch, `flagged << 128 | price << 64 | timeMs`: an unflagged reading's
    ///      index at the round's time, else the last trusted one carried over
    ///      (settlement/transition.py step 4). `oracleIndex.checkRound` refuses a report from a
    ///      source not configured or with another signer (UnknownOracleSource,
    ///      BadOracleSignature; its revert is passed on as it is).
    ///      The round goes to it as it lies in this call's calldata: a tuple's ABI encoding
    ///      holds only offsets relative to its own start, so the bytes from `o` on are a valid
    ///      argument (the trailing ones are ignored) and no re-encoding code is needed (it would
    ///      not fit under the code size limit).
    function _readOracle(OracleRound calldata o) private view returns (bytes32 digest, uint256[] memory out) {
        bytes memory args;
        bytes4 selector = OracleIndex.checkRound.selector;
        assembly ("memory-safe") {
            let len := sub(calldatasize(), o)
            args := mload(0x40)
            mstore(args, add(len, 36))
            mstore(add(args, 0x20), selector)
            mstore(add(args, 0x24), 0x20)
            calldatacopy(add(args, 0x44), o, len)
            mstore(0x40, and(add(add(args, 0x63), len), not(0x1f))) // 0x44 + len, a whole word
        }
        (bool ok, bytes memory ret) = address(oracleIndex).staticcall(args);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        (digest, out) = abi.decode(ret, (bytes32, uint256[]));
        for (uint256 m = 0; m < marketCount; ++m) {
            out[m] = out[m] >> 128 != 0 ? 1 << 128 | lastIndexes[m] : out[m] << 64 | o.timestampMs;
        }
    }

    /// @dev The k-th forced withdrawal the batch consumes is served by the statement's k-th
    ///      withdrawal: the same account and subaccount, at most the amount asked (0 when the
    ///      account had no free collateral). Nothing here or in the batch AIR checks the amount
    ///      against the free collateral: no public input carries it (docs/contracts.md, "Limits").
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

    /// @dev The shape of the operator's values: one per market, whole RFQ blocks, a commitment
    ///      count the tree holds.
    function _checkShape(Statement calldata s) private view {
        if (s.markets.length != marketCount) revert MarketValuesMismatch(marketCount, s.markets.length);
        if (s.blockElements.length % BLOCK_ELEMENTS != 0) revert MalformedBlocks(s.blockElements.length);
        if (s.commitments > 1 << COMMITMENT_TREE_DEPTH) revert CommitmentCountInvalid(s.commitments);
    }

    /// @dev A market clears around its mark: the reference price is the mark of the last
    ///      anchored batch, or the genesis root's before the first, and a market without a
    ///      mark (0) clears without a reference (0) (docs/formats.md): a stated one would
    ///      pick the price within the optimal interval.
    function _checkReferences(Statement calldata s) private view {
        for (uint256 m = 0; m < marketCount; ++m) {
            uint256 mark = lastMarks[m];
            uint256 ref = s.markets[m].referencePrice;
            if (ref != mark) revert ReferenceMismatch(m, mark, ref);
        }
    }

    /// @dev The settlement statement (SettleStatement.to_elements): its roots are the stored
    ///      root and the stated post-root, its multipliers the contract's, its marks the stated
    ///      ones, and its derived values (`derived_elements`: the 12-bit digits the AIR reads
    ///      instead of constants) follow from it — so one program serves every batch of a shape.
    function _checkSettlement(Statement calldata s, uint256[] memory indexes) private view {
        uint256[] calldata e = s.settlement;
        uint256 m = marketCount;
        uint256 i = 4 + 8 * SETTLE_DIGESTS;
        if (e.length < i + 24 + 8 * m) revert SettlementMismatch(e.length);
        if (e[3] != m) revert SettlementMismatch(3);
        uint256[8] memory pre = _fromBytes32(stateRoot);
        uint256[8] memory post = _fromBytes32(s.postRoot);
        for (uint256 k = 0; k < 8; ++k) {
            if (e[4 + k] != pre[k]) revert SettlementMismatch(4 + k);
            if (e[12 + k] != post[k]) revert SettlementMismatch(12 + k);
        }
        // deposits − withdrawals − Δ fee pool − Δ insurance fund
        int256 net = _dec(e, i) - _dec(e, i + 4) - (_dec(e, i + 12) - _dec(e, i + 8))
            - (_dec(e, i + 20) - _dec(e, i + 16));
        uint256 terms = i + 24;
        // the margin terms follow the market terms, then the derived values
        uint256[] memory margins = new uint256[](m);
        uint256 at = terms + 8 * m;
        for (uint256 j = 0; j < m; ++j) {
            if (e.length < at + 4) revert SettlementMismatch(at);
            margins[j] = at;
            at += 5 + 2 * e[at + 3]; // mark, index, flag, count, the tiers, initial bps₀
        }
        for (uint256 j = 0; j < m; ++j) {
            uint256 x = indexes[j];
            uint256 index = uint64(x >> 64);
            if (e[margins[j] + 1] != (index == 0 ? e[margins[j]] : index) || e[margins[j] + 2] != x >> 128) {
                revert IndexMismatch(j, index, x >> 128);
            }
            at = _checkMarketDerived(s, e, terms + 8 * j, margins[j], at, j);
        }
        if (net < -(int256(1) << 80)) revert SettlementMismatch(at);
        at = _checkDigits(e, at, uint256(net + (int256(1) << 80)), TARGET_DIGITS);
        // the fee pool's change: the batch's fees, never negative
        int256 fees = _dec(e, i + 12) - _dec(e, i + 8);
        if (fees < 0) revert SettlementMismatch(at);
        at = _checkDigits(e, at, uint256(fees), FEE_POOL_DIGITS);
        if (at != e.length) revert SettlementMismatch(at);
    }

    /// @dev Market `j`'s terms at `t` (price, multiplier, fee bps, ΔF ×4, liquidation penalty
    ///      bps) and derived values from `at` on: digits of price × multiplier, sign and
    ///      digits of |ΔF|, digits of price × multiplier × fee and × penalty, mark > 0,
    ///      flagged, then for the mark and the index price the digits of price × multiplier and
    ///      of price × multiplier × bps per tier, then the digits of the liquidation per_lot
    ///      max(1, index × multiplier × initial bps₀ / 10 000), the index price e[g + 1] (the
    ///      mark where the market has no index yet; settlement/liquidation.py).
    ///      Returns the next position.
    function _checkMarketDerived(
        Statement calldata s,
        uint256[] calldata e,
        uint256 t,
        uint256 g,
        uint256 at,
        uint256 j
    ) private view returns (uint256) {
        uint256 mult = uint256(multipliers[j]);
        if (e[t + 1] != mult) revert SettlementMismatch(t + 1);
        if (e[g] != s.markets[j].mark) revert SettlementMismatch(g);
        if (e[t] >= 1 << 30 || e[t + 7] > 10_000) revert SettlementMismatch(t);
        _checkTerms(e, t, g, j);
        uint256 pm = e[t] * mult;
        int256 df = _dec(e, t + 3);
        at = _checkDigits(e, at, pm, DERIVED_DIGITS);
        if (e.length < at + 1 || e[at] != (df < 0 ? 1 : 0)) revert SettlementMismatch(at);
        at = _checkDigits(e, at + 1, uint256(df < 0 ? -df : df), DERIVED_DIGITS);
        at = _checkDigits(e, at, pm * e[t + 2], DERIVED_DIGITS);
        at = _checkDigits(e, at, pm * e[t + 7], DERIVED_DIGITS);
        if (e.length < at + 2 || e[at] != (e[g] > 0 ? 1 : 0) || e[at + 1] != e[g + 2] || e[g + 2] > 1) {
            revert SettlementMismatch(at);
        }
        at += 2;
        uint256 tiers = e[g + 3];
        for (uint256 p = 0; p < 2; ++p) {
            uint256 price = e[g + p];
            if (price >= 1 << 30) revert SettlementMismatch(g + p);
            at = _checkDigits(e, at, price * mult, DERIVED_DIGITS);
            for (uint256 k = 0; k < tiers; ++k) {
                uint256 bps = e[g + 5 + 2 * k];
                if (bps > 10_000) revert SettlementMismatch(g + 5 + 2 * k);
                at = _checkDigits(e, at, price * mult * bps, DERIVED_DIGITS);
            }
        }
        // e[g + 4 + 2 * tiers]: tier 0's initial bps, pinned by _checkTerms
        uint256 perLot = e[g + 1] * mult * e[g + 4 + 2 * tiers] / 10_000;
        return _checkDigits(e, at, perLot == 0 ? 1 : perLot, DERIVED_DIGITS);
    }

    /// @dev Market `j`'s fee (`e[t + 2]`), liquidation penalty (`e[t + 7]`), margin tiers
    ///      (`e[g + 3]` tiers, then max_lots and maintenance bps each) and tier 0's initial bps
    ///      (after them) are the ones fixed at deployment.
    function _checkTerms(uint256[] calldata e, uint256 t, uint256 g, uint256 j) private view {
        uint256[] storage want = fixedTerms[j];
        uint256 n = want.length;
        if (e.length < g + 1 + n) revert SettlementMismatch(e.length);
        for (uint256 i = 0; i < n; ++i) {
            uint256 got = i == 0 ? e[t + 2] : i == 1 ? e[t + 7] : e[g + 1 + i];
            if (got != want[i]) revert MarketTermMismatch(j, i, want[i], got);
        }
    }

    /// @dev `e[at .. at + count)` are the 12-bit digits of `value` (least significant first),
    ///      and `value` fits them; returns `at + count`.
    function _checkDigits(uint256[] calldata e, uint256 at, uint256 value, uint256 count)
        private
        pure
        returns (uint256)
    {
        if (e.length < at + count || value >> (12 * count) != 0) revert SettlementMismatch(at);
        for (uint256 k = 0; k < count; ++k) {
            if (e[at + k] != (value >> (12 * k)) & 0xfff) revert SettlementMismatch(at + k);
        }
        return at + count;
    }

    /// @dev A signed statement value [sign, three 24-bit limbs] (settle_witness.py `_enc`).
    function _dec(uint256[] calldata e, uint256 at) private pure returns (int256) {
        uint256 sign = e[at];
        if (sign > 1 || e[at + 1] > LIMB_MASK || e[at + 2] > LIMB_MASK || e[at + 3] > LIMB_MASK) {
            revert SettlementMismatch(at);
        }
        int256 mag = int256(e[at + 1] | (e[at + 2] << 24) | (e[at + 3] << 48));
        return sign == 1 ? -mag : mag;
    }

    /// @dev A table only the published files give is sent empty; refuse up front a batch the
    ///      statement shows needs rows in one (the verifier would refuse the proof anyway).
    function _checkOperatorTables(Statement calldata s) private view {
        uint256 orders;
        for (uint256 m = 0; m < marketCount; ++m) {
            orders += s.markets[m].orders;
        }
        bool adjusted = s.settlement.length > 2 && s.settlement[2] != 0;
        for (uint256 i = 0; i < operatorTables.length; ++i) {
            uint32 tag = operatorTables[i];
            // every order row sends its fill; carried orders are the orders not revealed (at
            // least the orders beyond the commitments); adjustments are flagged in the statement
            if (
                (tag == TAG_ORDER && orders != 0) || (tag == TAG_CARRIED && orders > s.commitments)
                    || (tag == TAG_ADJUST && adjusted)
            ) revert TableNotDerivable(tag);
        }
    }

    /// @dev The public tables from the statement, packed as crypto/solidity.py `encode_tables`:
    ///      `TAG_MARKET` (received: per market `(market, code, price, traded, reference,
    ///      has_reference)`, as often as the market has orders), `TAG_CNODE` received (the root
    ///      `(20, 0, root)`) and sent (the empty subtree `(h, count_h, EMPTY[h])` at each level
    ///      whose node count is odd, and the empty root when there is no commitment).
    function _tables(Statement calldata s) private view returns (bytes memory t) {
        uint256[21] memory counts;
        counts[0] = s.commitments;
        uint256 sends;
        for (uint256 h = 0; h <= COMMITMENT_TREE_DEPTH; ++h) {
            if (h > 0) counts[h] = (counts[h - 1] + 1) / 2;
            if (h < COMMITMENT_TREE_DEPTH ? counts[h] % 2 == 1 : counts[h] == 0) ++sends;
        }
        t = abi.encodePacked(uint16(sends == 0 ? 2 : 3), TAG_MARKET, uint8(1), uint8(6), uint32(marketCount));
        for (uint256 m = 0; m < marketCount; ++m) {
            MarketValues calldata v = s.markets[m];
            t = bytes.concat(
                t,
                abi.encodePacked(
                    uint32(v.orders), uint32(m), uint32(marketCodes[m]), uint32(v.price), uint32(v.price == 0 ? 0 : 1)
                ),
                abi.encodePacked(uint32(v.referencePrice), uint32(v.referencePrice == 0 ? 0 : 1))
            );
        }
        t = bytes.concat(
            t,
            abi.encodePacked(TAG_CNODE, uint8(1), uint8(10), uint32(1), uint32(1)),
            abi.encodePacked(uint32(COMMITMENT_TREE_DEPTH), uint32(0)),
            _packedElements(_fromBytes32(s.commitmentRoot))
        );
        if (sends == 0) return t;
        t = bytes.concat(t, abi.encodePacked(TAG_CNODE, uint8(0), uint8(10), uint32(sends)));
        for (uint256 h = 0; h <= COMMITMENT_TREE_DEPTH; ++h) {
            if (h < COMMITMENT_TREE_DEPTH ? counts[h] % 2 == 0 : counts[h] != 0) continue;
            t = bytes.concat(
                t,
                abi.encodePacked(uint32(1), uint32(h), uint32(counts[h]), emptySubtree(h))
            );
        }
    }

    /// @dev Eight elements as eight big-endian u32 (a table row's values).
    function _packedElements(uint256[8] memory d) private pure returns (bytes memory) {
        return abi.encodePacked(
            uint32(d[0]), uint32(d[1]), uint32(d[2]), uint32(d[3]), uint32(d[4]), uint32(d[5]), uint32(d[6]), uint32(d[7])
        );
    }

    /// @notice The commitment tree's empty subtree of height `h` (8 big-endian u32 elements).
    function emptySubtree(uint256 h) public pure returns (bytes32 w) {
        if (h > COMMITMENT_TREE_DEPTH) revert CommitmentCountInvalid(h);
        bytes memory e = EMPTY_SUBTREES;
        assembly {
            w := mload(add(add(e, 32), mul(h, 32)))
        }
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
    ///      m, commitments, then per market price, funding index ×4 (signed), mark price, order
    ///      count, reference price, index price, index time ×2 and oracle flag (`indexes`), then
    ///      the settlement statement's elements as the operator states them.
    function _publicInputs(Statement calldata s, uint256[8] memory inputsDigest, uint256[] memory indexes)
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
        pi[44] = s.commitments;
        for (uint256 m = 0; m < marketCount; ++m) {
            MarketValues calldata v = s.markets[m];
            uint256 at = PUBLIC_HEADER + PUBLIC_PER_MARKET * m;
            if (v.price >= P) revert NotFieldElement(v.price);
            if (v.mark >= P) revert NotFieldElement(v.mark);
            if (v.orders >= P) revert NotFieldElement(v.orders);
            if (v.referencePrice >= P) revert NotFieldElement(v.referencePrice);
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
            pi[at + 7] = v.referencePrice;
            uint256 x = indexes[m];
            pi[at + 8] = uint64(x >> 64);
            pi[at + 9] = x & LIMB_MASK;
            pi[at + 10] = (x >> 24) & LIMB_MASK;
            pi[at + 11] = x >> 128;
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
