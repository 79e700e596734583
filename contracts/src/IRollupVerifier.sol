// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @notice What a final proof must prove for `verifyBatches` to accept it.
struct Statement {
    /// State root after the previous sequence (the rollup's genesis root for the first).
    bytes32 oldStateRoot;
    /// State root the submitter claims.
    bytes32 newStateRoot;
    /// Accumulated input hash before this sequence's first batch.
    bytes32 oldAccInputHash;
    /// Accumulated input hash after its last batch, as recorded by `sequenceBatches`.
    bytes32 newAccInputHash;
    /// The submitter: a proof bound to anyone else is worthless.
    address prover;
    /// Batches in the sequence.
    uint64 numBatches;
    /// Chain and rollup the sequence belongs to. The accumulated input hash starts from a seed
    /// over both; a proof system whose proofs commit to that hash is bound to them through it.
    /// The reference verifier binds proofs to the batch commitments and roots instead: a proof
    /// accepted by two rollups proves the same transition, by the same prover, for both.
    uint256 chainId;
    uint32 rollupId;
}

/// @notice A proof system's on-chain verifier. One deployment serves every rollup that uses the
/// proof system; the verifying key is registered per rollup and passed in on each call.
interface IRollupVerifier {
    /// @return true iff `proof` proves `statement` under `vk`. Must return false, not revert, on
    /// malformed input, so that the manager can slash a bad reveal instead of undoing the call.
    function verifyProof(bytes calldata vk, bytes calldata proof, Statement calldata statement)
        external
        view
        returns (bool);

    /// @return true iff `vk` is a well-formed verifying key for this verifier (checked once, at
    /// registration, so that a typo cannot make a rollup unprovable).
    function checkVerifyingKey(bytes calldata vk) external view returns (bool);
}
