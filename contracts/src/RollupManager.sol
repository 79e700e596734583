// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {TransferFailed, sendValue} from "./SendValue.sol";
import {IRollupVerifier, Statement} from "./IRollupVerifier.sol";
import {Stake} from "./Stake.sol";

/// @title RollupManager
/// @notice Rollups, their sequences, and the two-step proof submission of ZK-PoW V2.0: a miner
/// commits `proofHash = keccak256(abi.encodePacked(keccak256(proof), msg.sender))` while the
/// hash window is open, then reveals the proof after it closes. See docs/PROTOCOL.md.
///
/// Window of a sequence, with S the block of the window's first commitment (absolute blocks,
/// never modulo):
///   - commits:  S <= block < S + T1 (T1 blocks; see `submitProofHash` for why not S + T1);
///   - reveals:  block >= S + T1, the previous sequence verified, and block <= deadline, where
///               deadline = max(S + T1, block the previous sequence was verified) + T2.
///               Once someone proved, committers of that window may still reveal late.
///   - expiry:   nobody proved and block > deadline: the next commitment opens a new window.
/// A reveal must wait for the previous sequence (its old state root is only known then); the
/// deadline waits with it, so that nobody is slashed for a delay that was not theirs.
///
/// Rewards: the first valid proof reserves `rewardPerSequence` from the rollup's reward pool;
/// every committer of that window who reveals a valid proof by the deadline is credited
/// `reserve * stake / committedStake` at once (stake snapshots taken at commit time). Shares of
/// committers who reveal late, reveal a bad proof or never reveal go back to the pool. Slashed
/// stake goes to the pool too: rewards are funded, never minted. A commitment never revealed is
/// slashed by whoever calls `slashUnrevealed` (a keeper): the keeper is credited the rollup's
/// `keeperShareBps` of what was taken, so that somebody gains from cleaning up, and the rest
/// goes to the pool.
contract RollupManager {
    /// Most batches in one sequence: bounds verification gas (the reference verifier pays
    /// n + 3 pairings) and matches the reference adapter's limit.
    uint64 public constant MAX_BATCHES_PER_SEQUENCE = 64;

    /// Most of a no-reveal slash a keeper may be paid, in basis points: half. A miner who slashes
    /// its own unrevealed commitment from another address still loses at least half the
    /// punishment, so not revealing never becomes cheap.
    uint16 public constant MAX_KEEPER_SHARE_BPS = 5_000;

    struct RollupParams {
        IRollupVerifier verifier;
        bytes verifyingKey;
        address sequencer;
        bytes32 genesisStateRoot;
        uint64 t1;
        uint64 t2;
        uint256 rewardPerSequence;
        uint256 minStake;
        uint256 incorrectProofPunishAmount;
        uint256 noProofPunishAmount;
        /// Gas forwarded to the verifier per (batches + 3). A reveal with less gas left reverts
        /// instead of being judged, so an out-of-gas verifier can never slash an honest proof
        /// (nor can an `eth_estimateGas` that searches for the cheapest non-reverting limit).
        uint64 verifierGasUnit;
        /// The caller of `slashUnrevealed` is credited this share (basis points, at most
        /// `MAX_KEEPER_SHARE_BPS`) of the stake taken; 0 leaves no-reveal slashes to altruists.
        uint16 keeperShareBps;
    }

    struct Rollup {
        IRollupVerifier verifier;
        /// The verifying key, stored as contract code (read back for ~3k gas, not 25 SLOADs).
        address verifyingKey;
        address sequencer;
        uint64 t1;
        uint64 t2;
        uint64 verifierGasUnit;
        uint16 keeperShareBps;
        uint64 registeredAt;
        uint64 lastSequencedBatch;
        uint64 lastVerifiedBatch;
        uint64 lastSequenceBlock;
        bytes32 genesisStateRoot;
        bytes32 genesisAccInputHash;
        bytes32 lastAccInputHash;
        bytes32 stateRoot;
        uint256 rewardPerSequence;
        uint256 rewardPool;
        uint256 minStake;
        uint256 incorrectProofPunishAmount;
        uint256 noProofPunishAmount;
    }

    /// A sequence, named by its last batch.
    struct Sequence {
        bytes32 accInputHash;
        uint64 initNumBatch;
        uint64 sequencedAt;
        /// Current (or last) window, counted from 1; 0 = never opened.
        uint64 window;
        /// S of the current window; 0 = no window open.
        uint64 windowStart;
        /// Block of the first valid proof; 0 = not verified.
        uint64 verifiedAt;
        address verifiedBy;
        bytes32 stateRoot;
        /// Stake snapshots committed in the current window.
        uint256 committedStake;
        /// Of `committedStake`: committers who can no longer earn a share.
        uint256 forfeitedStake;
        /// Reward reserved by the first valid proof.
        uint256 reward;
    }

    enum Status {
        None,
        Committed,
        Proved,
        Slashed
    }

    struct Commitment {
        bytes32 proofHash;
        uint256 stake;
        uint64 committedAt;
        Status status;
    }

    /// The window of a sequence as the node needs it (all absolute block numbers).
    struct WindowState {
        uint64 window;
        uint64 start;
        /// Last block that accepts a commitment (start + T1 - 1); 0 if no window is open.
        uint64 lastCommitBlock;
        /// First block that accepts a reveal (start + T1).
        uint64 firstRevealBlock;
        /// Last in-window reveal block; type(uint64).max while the previous sequence is unverified.
        uint64 deadline;
        uint64 verifiedAt;
        bool previousVerified;
        uint256 committedStake;
    }

    enum SlashReason {
        HashMismatch,
        InvalidProof,
        NoReveal
    }

    address public immutable admin;
    Stake public immutable stake;
    uint32 public rollupCount;
    mapping(uint32 => Rollup) internal rollups;
    mapping(uint32 => mapping(uint64 => Sequence)) internal sequences;
    /// keccak256(rollupId, finalNewBatch, window, miner) => commitment.
    mapping(bytes32 => Commitment) internal commitments;
    /// keccak256(rollupId, finalNewBatch, miner) => the last window the miner committed in.
    mapping(bytes32 => uint64) public lastWindowOf;
    /// Rewards credited and not yet withdrawn.
    mapping(address => uint256) public rewards;

    event RollupRegistered(uint32 indexed rollupId, address verifier, address sequencer, uint64 t1, uint64 t2);
    event WindowsSet(uint32 indexed rollupId, uint64 t1, uint64 t2);
    event RewardsFunded(uint32 indexed rollupId, uint256 amount);
    event SequenceBatches(
        uint32 indexed rollupId,
        uint64 indexed finalNewBatch,
        uint64 initNumBatch,
        bytes32 accInputHash,
        bytes32[] batchCommitments,
        bytes[] batchData
    );
    event WindowOpened(uint32 indexed rollupId, uint64 indexed finalNewBatch, uint64 window, uint64 start);
    event SubmitProofHash(
        uint32 indexed rollupId,
        uint64 indexed finalNewBatch,
        address indexed miner,
        uint64 window,
        bytes32 proofHash,
        uint256 stake
    );
    event VerifyBatches(uint32 indexed rollupId, uint64 indexed finalNewBatch, bytes32 newStateRoot, address indexed miner);
    event ProofAccepted(
        uint32 indexed rollupId, uint64 indexed finalNewBatch, address indexed miner, uint64 window, bool late, uint256 reward
    );
    event ProofSlashed(
        uint32 indexed rollupId,
        uint64 indexed finalNewBatch,
        address indexed miner,
        uint64 window,
        SlashReason reason,
        uint256 amount
    );
    event RewardsWithdrawn(address indexed miner, uint256 amount);
    event KeeperPaid(uint32 indexed rollupId, uint64 indexed finalNewBatch, address indexed keeper, address miner, uint256 amount);

    error NotAdmin();
    error NotSequencer();
    error UnknownRollup(uint32 rollupId);
    error InvalidWindows(uint64 t1, uint64 t2, uint64 withdrawDelay);
    error InvalidVerifyingKey();
    error InvalidParams();
    error OneSequencePerBlock();
    error BadBatchCount(uint256 count);
    error UnknownSequence(uint64 finalNewBatch);
    error WrongInitNumBatch(uint64 expected, uint64 given);
    error AlreadyVerified(uint64 finalNewBatch);
    error AlreadyCommitted(uint64 window);
    error StakeTooLow(uint256 stake, uint256 minStake);
    error CommitWindowClosed(uint64 lastCommitBlock);
    error NoCommitment();
    error CommitmentFromOlderWindow(uint64 committedWindow, uint64 currentWindow);
    error AlreadySettled(Status status);
    error TooEarly(uint64 firstRevealBlock);
    error TooLate(uint64 deadline);
    error PreviousSequenceNotVerified(uint64 initNumBatch);
    error InsufficientGas(uint256 needed);
    error WindowStillOpen(uint64 deadline);
    error NothingToWithdraw();

    constructor(Stake stake_) {
        admin = msg.sender;
        stake = stake_;
    }

    /// Slashed stake arrives from the stake contract only.
    receive() external payable {
        if (msg.sender != address(stake)) revert TransferFailed();
    }

    // ---------------------------------------------------------------- administration

    function registerRollup(RollupParams calldata p) external returns (uint32 rollupId) {
        if (msg.sender != admin) revert NotAdmin();
        _checkWindows(p.t1, p.t2);
        if (
            address(p.verifier) == address(0) || p.sequencer == address(0) || p.verifierGasUnit == 0
                || p.keeperShareBps > MAX_KEEPER_SHARE_BPS
        ) {
            revert InvalidParams();
        }
        if (!p.verifier.checkVerifyingKey(p.verifyingKey)) revert InvalidVerifyingKey();
        rollupId = ++rollupCount;
        Rollup storage r = rollups[rollupId];
        r.verifier = p.verifier;
        r.verifyingKey = _storeBytes(p.verifyingKey);
        r.sequencer = p.sequencer;
        r.t1 = p.t1;
        r.t2 = p.t2;
        r.verifierGasUnit = p.verifierGasUnit;
        r.keeperShareBps = p.keeperShareBps;
        r.registeredAt = uint64(block.number);
        r.genesisStateRoot = p.genesisStateRoot;
        r.stateRoot = p.genesisStateRoot;
        // The input hash chain starts from the chain, this deployment and the rollup, so that no
        // two rollups anywhere record the same accumulated hash.
        bytes32 seed = keccak256(abi.encodePacked(block.chainid, address(this), rollupId));
        r.genesisAccInputHash = seed;
        r.lastAccInputHash = seed;
        r.rewardPerSequence = p.rewardPerSequence;
        r.minStake = p.minStake;
        r.incorrectProofPunishAmount = p.incorrectProofPunishAmount;
        r.noProofPunishAmount = p.noProofPunishAmount;
        emit RollupRegistered(rollupId, address(p.verifier), p.sequencer, p.t1, p.t2);
    }

    function setWindows(uint32 rollupId, uint64 t1, uint64 t2) external {
        if (msg.sender != admin) revert NotAdmin();
        Rollup storage r = _rollup(rollupId);
        _checkWindows(t1, t2);
        r.t1 = t1;
        r.t2 = t2;
        emit WindowsSet(rollupId, t1, t2);
    }

    /// Anyone may fund a rollup's rewards.
    function fundRewards(uint32 rollupId) external payable {
        _rollup(rollupId).rewardPool += msg.value;
        emit RewardsFunded(rollupId, msg.value);
    }

    // ---------------------------------------------------------------- sequencing

    /// Posts one sequence: a commitment and the data of each batch. The data is only logged (the
    /// provers read it from the event); the commitments enter the accumulated input hash.
    function sequenceBatches(uint32 rollupId, bytes32[] calldata batchCommitments, bytes[] calldata batchData)
        external
        returns (uint64 finalNewBatch)
    {
        Rollup storage r = _rollup(rollupId);
        if (msg.sender != r.sequencer) revert NotSequencer();
        uint256 n = batchCommitments.length;
        if (n == 0 || n > MAX_BATCHES_PER_SEQUENCE || batchData.length != n) revert BadBatchCount(n);
        if (r.lastSequenceBlock == block.number) revert OneSequencePerBlock();
        bytes32 acc = r.lastAccInputHash;
        for (uint256 i = 0; i < n; i++) {
            acc = keccak256(abi.encodePacked(acc, batchCommitments[i]));
        }
        uint64 initNumBatch = r.lastSequencedBatch;
        // forge-lint: disable-next-line(unsafe-typecast)
        finalNewBatch = initNumBatch + uint64(n); // n <= MAX_BATCHES_PER_SEQUENCE
        Sequence storage s = sequences[rollupId][finalNewBatch];
        s.accInputHash = acc;
        s.initNumBatch = initNumBatch;
        s.sequencedAt = uint64(block.number);
        r.lastSequencedBatch = finalNewBatch;
        r.lastAccInputHash = acc;
        r.lastSequenceBlock = uint64(block.number);
        emit SequenceBatches(rollupId, finalNewBatch, initNumBatch, acc, batchCommitments, batchData);
    }

    // ---------------------------------------------------------------- step 1: commit

    /// Commits to a proof without showing it. The hash window holds T1 blocks, [S, S + T1): the
    /// original also accepted commits at S + T1, the first reveal block, so the committed stake
    /// (and with it every reward share) could still change after a reveal had been paid.
    function submitProofHash(uint32 rollupId, uint64 initNumBatch, uint64 finalNewBatch, bytes32 proofHash) external {
        Rollup storage r = _rollup(rollupId);
        Sequence storage s = _sequence(rollupId, initNumBatch, finalNewBatch);
        if (s.verifiedAt != 0) revert AlreadyVerified(finalNewBatch);
        uint256 snapshot = stake.stakeOf(msg.sender);
        if (snapshot < r.minStake) revert StakeTooLow(snapshot, r.minStake);

        if (s.windowStart == 0 || block.number > _deadline(rollupId, r, s)) {
            // No window yet, or the last one expired with nobody proving: this hash opens one.
            s.window += 1;
            s.windowStart = uint64(block.number);
            s.committedStake = 0;
            s.forfeitedStake = 0;
            emit WindowOpened(rollupId, finalNewBatch, s.window, s.windowStart);
        } else if (block.number >= s.windowStart + r.t1) {
            revert CommitWindowClosed(s.windowStart + r.t1 - 1);
        }
        bytes32 key = _commitKey(rollupId, finalNewBatch, s.window, msg.sender);
        if (commitments[key].status != Status.None) revert AlreadyCommitted(s.window);

        commitments[key] = Commitment(proofHash, snapshot, uint64(block.number), Status.Committed);
        lastWindowOf[_minerKey(rollupId, finalNewBatch, msg.sender)] = s.window;
        s.committedStake += snapshot;
        stake.lock(msg.sender);
        emit SubmitProofHash(rollupId, finalNewBatch, msg.sender, s.window, proofHash, snapshot);
    }

    // ---------------------------------------------------------------- step 2: reveal

    /// Reveals the committed proof. Reverts when the call is not allowed now (nothing changes);
    /// a wrong hash or an invalid proof is slashed and the call succeeds, so the slash sticks.
    function verifyBatches(
        uint32 rollupId,
        uint64 initNumBatch,
        uint64 finalNewBatch,
        bytes32 newStateRoot,
        bytes calldata proof
    ) external {
        Rollup storage r = _rollup(rollupId);
        Sequence storage s = _sequence(rollupId, initNumBatch, finalNewBatch);
        uint64 window = s.window;
        Commitment storage c = _revealable(rollupId, finalNewBatch, window);
        if (block.number < s.windowStart + r.t1) revert TooEarly(s.windowStart + r.t1);
        if (_previousVerifiedAt(rollupId, r, s) == 0) revert PreviousSequenceNotVerified(initNumBatch);
        uint64 deadline = _deadline(rollupId, r, s);
        bool late = block.number > deadline;
        if (late && s.verifiedAt == 0) revert TooLate(deadline);

        // From here on the call succeeds: the reveal is judged (the hash first: it is cheap).
        {
            bool hashOk = keccak256(abi.encodePacked(keccak256(proof), msg.sender)) == c.proofHash;
            bool valid = hashOk && _verify(rollupId, r, s, finalNewBatch, newStateRoot, proof);
            c.status = valid ? Status.Proved : Status.Slashed;
            stake.unlock(msg.sender);
            if (!valid) {
                _slash(rollupId, r, s, finalNewBatch, window, c.stake, hashOk ? SlashReason.InvalidProof : SlashReason.HashMismatch);
                return;
            }
        }
        if (s.verifiedAt == 0) _consolidate(rollupId, r, s, finalNewBatch, newStateRoot);
        uint256 share = 0;
        if (late) {
            _forfeit(r, s, c.stake);
        } else {
            share = s.reward * c.stake / s.committedStake;
            rewards[msg.sender] += share;
        }
        emit ProofAccepted(rollupId, finalNewBatch, msg.sender, window, late, share);
    }

    /// Slashes a commitment that was never revealed once its window can no longer take the
    /// reveal: a later window has started, or the deadline has passed. Anyone may call it; the
    /// caller is credited the rollup's keeper share of the stake taken.
    function slashUnrevealed(uint32 rollupId, uint64 finalNewBatch, uint64 window, address miner) external {
        Rollup storage r = _rollup(rollupId);
        Sequence storage s = sequences[rollupId][finalNewBatch];
        Commitment storage c = commitments[_commitKey(rollupId, finalNewBatch, window, miner)];
        if (c.status != Status.Committed) revert AlreadySettled(c.status);
        if (window == s.window) {
            uint64 deadline = _deadline(rollupId, r, s);
            if (block.number <= deadline) revert WindowStillOpen(deadline);
        }
        c.status = Status.Slashed;
        stake.unlock(miner);
        uint256 taken = stake.slash(miner, r.noProofPunishAmount);
        uint256 fee = taken * r.keeperShareBps / 10_000;
        rewards[msg.sender] += fee;
        r.rewardPool += taken - fee;
        if (window == s.window) _forfeit(r, s, c.stake);
        emit ProofSlashed(rollupId, finalNewBatch, miner, window, SlashReason.NoReveal, taken);
        if (fee != 0) emit KeeperPaid(rollupId, finalNewBatch, msg.sender, miner, fee);
    }

    function withdrawRewards() external {
        uint256 amount = rewards[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        rewards[msg.sender] = 0;
        emit RewardsWithdrawn(msg.sender, amount);
        sendValue(msg.sender, amount);
    }

    // ---------------------------------------------------------------- views for the node

    /// (T1, T2) in blocks. The node reads them from here and never hard-codes them.
    function windows(uint32 rollupId) external view returns (uint64 t1, uint64 t2) {
        Rollup storage r = _rollup(rollupId);
        return (r.t1, r.t2);
    }

    function rollupState(uint32 rollupId)
        external
        view
        returns (
            uint64 lastSequencedBatch,
            uint64 lastVerifiedBatch,
            bytes32 stateRoot,
            uint256 rewardPool,
            uint256 rewardPerSequence,
            uint256 minStake
        )
    {
        Rollup storage r = _rollup(rollupId);
        return (r.lastSequencedBatch, r.lastVerifiedBatch, r.stateRoot, r.rewardPool, r.rewardPerSequence, r.minStake);
    }

    function rollupConfig(uint32 rollupId)
        external
        view
        returns (address verifier, bytes memory verifyingKey, address sequencer, bytes32 genesisStateRoot, uint64 registeredAt)
    {
        Rollup storage r = _rollup(rollupId);
        return (address(r.verifier), _loadBytes(r.verifyingKey), r.sequencer, r.genesisStateRoot, r.registeredAt);
    }

    /// What a bad reveal and a missing reveal cost, and a keeper's share of the latter.
    function punishments(uint32 rollupId)
        external
        view
        returns (uint256 incorrectProofPunishAmount, uint256 noProofPunishAmount, uint16 keeperShareBps)
    {
        Rollup storage r = _rollup(rollupId);
        return (r.incorrectProofPunishAmount, r.noProofPunishAmount, r.keeperShareBps);
    }

    function sequenceOf(uint32 rollupId, uint64 finalNewBatch) external view returns (Sequence memory) {
        return sequences[rollupId][finalNewBatch];
    }

    function windowState(uint32 rollupId, uint64 finalNewBatch) external view returns (WindowState memory w) {
        Rollup storage r = _rollup(rollupId);
        Sequence storage s = sequences[rollupId][finalNewBatch];
        if (s.sequencedAt == 0) revert UnknownSequence(finalNewBatch);
        w.window = s.window;
        w.start = s.windowStart;
        if (s.windowStart != 0) {
            w.lastCommitBlock = s.windowStart + r.t1 - 1;
            w.firstRevealBlock = s.windowStart + r.t1;
            w.deadline = _deadline(rollupId, r, s);
        }
        w.verifiedAt = s.verifiedAt;
        w.previousVerified = _previousVerifiedAt(rollupId, r, s) != 0;
        w.committedStake = s.committedStake;
    }

    function commitmentOf(uint32 rollupId, uint64 finalNewBatch, uint64 window, address miner)
        external
        view
        returns (Commitment memory)
    {
        return commitments[_commitKey(rollupId, finalNewBatch, window, miner)];
    }

    // ---------------------------------------------------------------- internals

    function _checkWindows(uint64 t1, uint64 t2) private view {
        // Stake must outlive every window it backs: a withdrawal requested after a commitment
        // cannot leave before the commitment is settled.
        if (t1 == 0 || t2 == 0 || t1 + t2 >= stake.withdrawDelay()) revert InvalidWindows(t1, t2, stake.withdrawDelay());
    }

    function _rollup(uint32 rollupId) private view returns (Rollup storage r) {
        r = rollups[rollupId];
        if (r.registeredAt == 0) revert UnknownRollup(rollupId);
    }

    function _sequence(uint32 rollupId, uint64 initNumBatch, uint64 finalNewBatch)
        private
        view
        returns (Sequence storage s)
    {
        s = sequences[rollupId][finalNewBatch];
        if (s.sequencedAt == 0) revert UnknownSequence(finalNewBatch);
        if (s.initNumBatch != initNumBatch) revert WrongInitNumBatch(s.initNumBatch, initNumBatch);
    }

    function _revealable(uint32 rollupId, uint64 finalNewBatch, uint64 window)
        private
        view
        returns (Commitment storage c)
    {
        uint64 mine = lastWindowOf[_minerKey(rollupId, finalNewBatch, msg.sender)];
        if (mine == 0) revert NoCommitment();
        if (mine != window) revert CommitmentFromOlderWindow(mine, window);
        c = commitments[_commitKey(rollupId, finalNewBatch, window, msg.sender)];
        if (c.status != Status.Committed) revert AlreadySettled(c.status);
    }

    /// Block at which the previous sequence was verified (registration for the first); 0 = not yet.
    function _previousVerifiedAt(uint32 rollupId, Rollup storage r, Sequence storage s) private view returns (uint64) {
        if (s.initNumBatch == 0) return r.registeredAt;
        return sequences[rollupId][s.initNumBatch].verifiedAt;
    }

    function _deadline(uint32 rollupId, Rollup storage r, Sequence storage s) private view returns (uint64) {
        uint64 previous = _previousVerifiedAt(rollupId, r, s);
        if (previous == 0) return type(uint64).max;
        uint64 revealFrom = s.windowStart + r.t1;
        return (previous > revealFrom ? previous : revealFrom) + r.t2;
    }

    function _verify(
        uint32 rollupId,
        Rollup storage r,
        Sequence storage s,
        uint64 finalNewBatch,
        bytes32 newStateRoot,
        bytes calldata proof
    ) private view returns (bool) {
        Statement memory st = _statement(rollupId, r, s, finalNewBatch, newStateRoot);
        uint256 gasForVerifier = uint256(r.verifierGasUnit) * (st.numBatches + 3);
        // 63/64: the most a call can forward; the margin pays for the call and the return.
        uint256 needed = gasForVerifier * 64 / 63 + 20_000;
        if (gasleft() < needed) revert InsufficientGas(needed);
        try r.verifier.verifyProof{gas: gasForVerifier}(_loadBytes(r.verifyingKey), proof, st) returns (bool ok) {
            return ok;
        } catch {
            return false;
        }
    }

    function _statement(uint32 rollupId, Rollup storage r, Sequence storage s, uint64 finalNewBatch, bytes32 newRoot)
        private
        view
        returns (Statement memory st)
    {
        bool first = s.initNumBatch == 0;
        Sequence storage prev = sequences[rollupId][s.initNumBatch];
        st.oldStateRoot = first ? r.genesisStateRoot : prev.stateRoot;
        st.newStateRoot = newRoot;
        st.oldAccInputHash = first ? r.genesisAccInputHash : prev.accInputHash;
        st.newAccInputHash = s.accInputHash;
        st.prover = msg.sender;
        st.numBatches = finalNewBatch - s.initNumBatch;
        st.chainId = block.chainid;
        st.rollupId = rollupId;
    }

    function _consolidate(uint32 rollupId, Rollup storage r, Sequence storage s, uint64 finalNewBatch, bytes32 root)
        private
    {
        s.verifiedAt = uint64(block.number);
        s.verifiedBy = msg.sender;
        s.stateRoot = root;
        r.lastVerifiedBatch = finalNewBatch;
        r.stateRoot = root;
        uint256 reserve = r.rewardPerSequence < r.rewardPool ? r.rewardPerSequence : r.rewardPool;
        r.rewardPool -= reserve;
        s.reward = reserve;
        // Committers who already lost their share before anyone proved give it back now.
        if (s.forfeitedStake != 0) r.rewardPool += reserve * s.forfeitedStake / s.committedStake;
        emit VerifyBatches(rollupId, finalNewBatch, root, msg.sender);
    }

    /// A committer of the current window will not take its share: return it to the pool (or, if
    /// nothing is reserved yet, remember its stake so that `_consolidate` returns it).
    function _forfeit(Rollup storage r, Sequence storage s, uint256 committed) private {
        if (s.verifiedAt == 0) {
            s.forfeitedStake += committed;
        } else {
            r.rewardPool += s.reward * committed / s.committedStake;
        }
    }

    function _slash(
        uint32 rollupId,
        Rollup storage r,
        Sequence storage s,
        uint64 finalNewBatch,
        uint64 window,
        uint256 committed,
        SlashReason reason
    ) private {
        uint256 taken = stake.slash(msg.sender, r.incorrectProofPunishAmount);
        r.rewardPool += taken;
        _forfeit(r, s, committed);
        emit ProofSlashed(rollupId, finalNewBatch, msg.sender, window, reason, taken);
    }

    function _commitKey(uint32 rollupId, uint64 finalNewBatch, uint64 window, address miner)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(rollupId, finalNewBatch, window, miner));
    }

    function _minerKey(uint32 rollupId, uint64 finalNewBatch, address miner) private pure returns (bytes32) {
        return keccak256(abi.encode(rollupId, finalNewBatch, miner));
    }

    /// Stores `data` as the code of a new contract (prefixed with STOP, so it cannot be run).
    function _storeBytes(bytes memory data) private returns (address pointer) {
        // Init code: PUSH2 len+1, DUP1, PUSH1 10, RETURNDATASIZE, CODECOPY, RETURNDATASIZE, RETURN;
        // it returns everything after its own 10 bytes: 0x00 followed by the data.
        bytes memory init = abi.encodePacked(hex"61", uint16(data.length + 1), hex"80600a3d393df300", data);
        assembly {
            pointer := create(0, add(init, 32), mload(init))
        }
        if (pointer == address(0)) revert InvalidVerifyingKey();
    }

    function _loadBytes(address pointer) private view returns (bytes memory data) {
        uint256 size = pointer.code.length - 1;
        data = new bytes(size);
        assembly {
            extcodecopy(pointer, add(data, 32), 1, size)
        }
    }
}
