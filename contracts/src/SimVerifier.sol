// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IRollupVerifier, Statement} from "./IRollupVerifier.sol";

/// @title SimVerifier
/// @notice A verifier for simulations of the node only: its "proofs" are free to make, so it
/// proves nothing. NEVER deploy it on a real chain or register a real rollup with it.
///
///   proof  tag(32) | oldStateRoot(32) | newStateRoot(32) | prover(20)    (exactly 116 bytes)
///   tag =  keccak256(abi.encodePacked(oldStateRoot, newStateRoot, prover))
///
/// A proof is accepted iff it has that layout, its roots and prover are the statement's, and
/// its tag matches (so a simulation can make invalid proofs by corrupting any byte). The
/// verifying key is any 32 bytes. Like every verifier it returns false, never reverts, on bad
/// input. Rust counterpart: `prova_chain::sim::{sim_proof, check_sim_proof}`.
contract SimVerifier is IRollupVerifier {
    uint256 internal constant PROOF_LENGTH = 116;
    uint256 internal constant VK_LENGTH = 32;

    /// @inheritdoc IRollupVerifier
    function verifyProof(bytes calldata, bytes calldata proof, Statement calldata statement) external pure returns (bool) {
        if (proof.length != PROOF_LENGTH) return false;
        bytes32 tag = bytes32(proof[0:32]);
        bytes32 oldRoot = bytes32(proof[32:64]);
        bytes32 newRoot = bytes32(proof[64:96]);
        address prover = address(bytes20(proof[96:116]));
        if (oldRoot != statement.oldStateRoot || newRoot != statement.newStateRoot || prover != statement.prover) return false;
        return tag == keccak256(abi.encodePacked(oldRoot, newRoot, prover));
    }

    /// @inheritdoc IRollupVerifier
    function checkVerifyingKey(bytes calldata vk) external pure returns (bool) {
        return vk.length == VK_LENGTH;
    }
}
