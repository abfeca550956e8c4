// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

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

/// @title An oracle round checked and read (settlement/oracle.py `read_index`)
/// @notice The sources, their families and the rules are fixed at deployment. Every report must
///         be signed by its source, a configured one. Per market: each
///         source counts with its newest report that is neither from the future nor older than
///         `staleMs` (two prices signed for that same time: the source is dropped); a family
///         counts when at least `familyQuorum` of its sources lie within `agreementBps` of the
///         median of its sources' prices, and its price is the median of those; the index is
///         the median of the counting families' prices, flagged when fewer than `minFamilies`
///         count or they spread wider than `divergenceBps` of the index. A median of an even
///         count is the midpoint of the two middle values, rounded down.
contract OracleIndex {
    uint256 public constant BPS = 10_000;
    /// @notice The largest price a report may carry (auction/bounds.py MAX_PRICE, ticks).
    uint256 public constant MAX_PRICE = (1 << 30) - 1;
    /// @notice keccak256("sealbatch.PriceReport.v1"): the type tag of an oracle report.
    bytes32 public constant REPORT_TAG = keccak256("sealbatch.PriceReport.v1");
    /// @notice secp256k1 order / 2: signatures with a larger s are refused (EIP-2).
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @notice A report from a source that is not configured.
    error UnknownOracleSource(address source);
    /// @notice An oracle report's signature does not recover to its source.
    error BadOracleSignature(uint256 report);
    /// @notice A report whose price or time is 0, whose price is above `MAX_PRICE` or whose time
    ///         is 2^63 or later (settlement/oracle.py PriceReport refuses them).
    error BadOracleReport(uint256 report);
    /// @notice A constructor argument is out of range (which one).
    error BadOracleConfig(string what);

    uint256 public immutable staleMs;
    uint256 public immutable divergenceBps;
    uint256 public immutable agreementBps;
    uint256 public immutable familyQuorum;
    uint256 public immutable minFamilies;
    uint256 public immutable familyCount;
    /// @notice The sources, and the family of each (0 … familyCount − 1), in one order.
    address[] public sources;
    uint256[] public families;
    /// @notice keccak256 of each market id, in id order.
    bytes32[] public markets;
    /// @notice 1 + a source's position in `sources`; 0 for any other address.
    mapping(address => uint256) public sourceIndex;

    /// @param rules staleMs, divergenceBps, agreementBps, familyQuorum, minFamilies
    ///        (settlement/oracle.py OracleConfig).
    /// @param sources_ the configured sources (distinct).
    /// @param families_ each source's family: the position of its name among the sorted
    ///        family names, so every family 0 … F − 1 has at least `familyQuorum` sources.
    /// @param markets_ keccak256 of each market id, in id order.
    constructor(uint256[5] memory rules, address[] memory sources_, uint256[] memory families_, bytes32[] memory markets_) {
        if (families_.length != sources_.length) revert BadOracleConfig("families");
        if (rules[0] == 0 || rules[0] > 1 << 40) revert BadOracleConfig("staleMs");
        if (rules[1] > BPS) revert BadOracleConfig("divergenceBps");
        if (rules[2] > BPS) revert BadOracleConfig("agreementBps");
        if (rules[3] == 0 || rules[3] > 1 << 10) revert BadOracleConfig("familyQuorum");
        uint256 f;
        for (uint256 i = 0; i < families_.length; ++i) {
            if (families_[i] + 1 > f) f = families_[i] + 1;
        }
        if (f < 2) revert BadOracleConfig("families");
        uint256[] memory size = new uint256[](f);
        for (uint256 i = 0; i < sources_.length; ++i) {
            if (sources_[i] == address(0) || sourceIndex[sources_[i]] != 0) revert BadOracleConfig("sources");
            sourceIndex[sources_[i]] = i + 1;
            ++size[families_[i]];
        }
        for (uint256 k = 0; k < f; ++k) {
            if (size[k] < rules[3]) revert BadOracleConfig("familyQuorum");
        }
        if (rules[4] == 0 || rules[4] > f) revert BadOracleConfig("minFamilies");
        staleMs = rules[0];
        divergenceBps = rules[1];
        agreementBps = rules[2];
        familyQuorum = rules[3];
        minFamilies = rules[4];
        familyCount = f;
        sources = sources_;
        families = families_;
        markets = markets_;
    }

    /// @notice How many sources are configured.
    function sourceCount() external view returns (uint256) {
        return sources.length;
    }

    /// @notice How many markets are configured.
    function marketCount() external view returns (uint256) {
        return markets.length;
    }

    /// @notice The round's digest (settlement/oracle.py OracleRound.digest) after checking
    ///         every report's source and signature, and each market's reading of the round (in
    ///         id order) as `flagged << 128 | index`: the index in ticks (0 when no family
    ///         counts) and whether it is flagged (always, when no family counts).
    function checkRound(OracleRound calldata o) external view returns (bytes32 digest, uint256[] memory readings) {
        for (uint256 i = 0; i < o.reports.length; ++i) {
            PriceReport calldata r = o.reports[i];
            if (sourceIndex[r.source] == 0) revert UnknownOracleSource(r.source);
            if (_recover(_reportDigest(r), r.signature) != r.source) revert BadOracleSignature(i);
        }
        return (_oracleDigest(o), readIndex(o));
    }

    /// @notice Each market's reading of the round, as `checkRound` (signatures not checked).
    function readIndex(OracleRound calldata o) public view returns (uint256[] memory readings) {
        uint256 m = markets.length;
        uint256 n = sources.length;
        // per (market, source): the newest report's time and price, and whether another price
        // was signed for that time
        uint256[] memory time = new uint256[](m * n);
        uint256[] memory price = new uint256[](m * n);
        bool[] memory conflict = new bool[](m * n);
        bytes32[] memory keys = markets;
        for (uint256 i = 0; i < o.reports.length; ++i) {
            PriceReport calldata r = o.reports[i];
            if (r.price == 0 || r.price > MAX_PRICE || r.timestampMs == 0 || r.timestampMs >= 1 << 63) revert BadOracleReport(i);
            uint256 s = sourceIndex[r.source];
            if (s == 0) revert UnknownOracleSource(r.source);
            uint256 j;
            while (j < m && keys[j] != r.market) ++j;
            // another market's, from the future, or stale: left out
            if (j == m || r.timestampMs > o.timestampMs || o.timestampMs - r.timestampMs > staleMs) continue;
            uint256 k = j * n + s - 1;
            if (r.timestampMs > time[k]) {
                time[k] = r.timestampMs;
                price[k] = r.price;
                conflict[k] = false;
            } else if (r.timestampMs == time[k] && r.price != price[k]) {
                conflict[k] = true;
            }
        }
        readings = new uint256[](m);
        uint256[] memory fam = families;
        for (uint256 j = 0; j < m; ++j) {
            (uint256 index, bool flagged) = _market(fam, time, price, conflict, j * n);
            readings[j] = (flagged ? 1 << 128 : 0) | index;
        }
    }

    /// @dev One market's reading from its sources' newest prices (`at`: its first source).
    function _market(
        uint256[] memory fam,
        uint256[] memory time,
        uint256[] memory price,
        bool[] memory conflict,
        uint256 at
    ) private view returns (uint256, bool) {
        uint256 n = fam.length;
        uint256 f = familyCount;
        uint256[] memory counted = new uint256[](f);
        uint256[] memory buf = new uint256[](n);
        uint256 c;
        for (uint256 k = 0; k < f; ++k) {
            uint256 len;
            for (uint256 s = 0; s < n; ++s) {
                if (fam[s] == k && time[at + s] != 0 && !conflict[at + s]) buf[len++] = price[at + s];
            }
            if (len == 0) continue;
            uint256 center = _median(buf, len);
            uint256 agree;
            for (uint256 t = 0; t < len; ++t) {
                uint256 p = buf[t];
                uint256 d = p > center ? p - center : center - p;
                if (d * BPS <= agreementBps * center) buf[agree++] = p; // still sorted
            }
            if (agree >= familyQuorum) counted[c++] = _median(buf, agree);
        }
        if (c == 0) return (0, true);
        uint256 idx = _median(counted, c);
        return (idx, c < minFamilies || (counted[c - 1] - counted[0]) * BPS > divergenceBps * idx);
    }

    /// @dev Sorts `v[0 … len)` in place and returns its median (an even count's two middle
    ///      values' midpoint, rounded down).
    function _median(uint256[] memory v, uint256 len) private pure returns (uint256) {
        for (uint256 i = 1; i < len; ++i) {
            uint256 x = v[i];
            uint256 j = i;
            while (j > 0 && v[j - 1] > x) {
                v[j] = v[j - 1];
                --j;
            }
            v[j] = x;
        }
        return len % 2 == 1 ? v[len / 2] : (v[len / 2 - 1] + v[len / 2]) / 2;
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
        // 0 or 1: the recovery id as many signers write it, taken as the Python verifier
        // takes it (crypto/eip712.py), so a round that checks off chain checks here
        if (v < 2) v += 27;
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
