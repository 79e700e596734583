// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IRollupVerifier, Statement} from "../IRollupVerifier.sol";

/// @title VerifierTemplate
/// @notice Start here for a rollup type's own on-chain verifier: copy this file, fill in the three
/// marked functions for your proof system, build the contract, and have your plugin return its
/// creation bytecode as `verifier::contract` in `metadata` (WIT 0.3). `prova rollup register`,
/// the dev chain and `prova demo` deploy it and register the rollup with it. Plugins whose final
/// proofs are the SDK Groth16 kit's need none of this: they name the standard
/// `Groth16BatchVerifier` (`verifier::groth16-batch`).
///
/// Obligations. `RollupManager` relies on every one; a verifier that breaks one costs honest
/// miners their stake or lets a forged proof be paid:
///
/// 1. Return false on a bad proof, and never revert. The manager catches a revert and counts it as
///    false, so a verifier that reverts on a valid proof (an unchecked offset, a failed
///    precompile call left to bubble up) slashes an honest miner. Check every length and offset
///    before reading, call precompiles with `staticcall` and treat their failure as false.
/// 2. Bounded gas. The manager forwards `verifierGasUnit * (numBatches + 3)` gas (the unit is
///    registered per rollup; it reverts a reveal sent with too little for that), and running out
///    inside the verifier is caught as false too: a slash. Measure your cost per batch
///    (`forge test --gas-report`), register a unit well above it (`prova rollup register
///    --verifier-gas-unit`), and refuse sizes you cannot verify within it.
/// 3. Bind the whole statement: the proof must prove `oldStateRoot` -> `newStateRoot`, the
///    sequence's data (the batch commitments chaining `oldAccInputHash` to `newAccInputHash` the
///    way `sequenceBatches` recorded them, or the accumulated hash itself as a public input) and
///    the `prover`, so that a copied proof is worthless to anyone else. An unbound field is a
///    forgery waiting to happen.
/// 4. `checkVerifyingKey` accepts exactly the keys `verifyProof` can use (it runs once, at
///    registration, so that a malformed key cannot make a rollup unprovable), and never reverts.
/// 5. View only: no storage writes, no calls but precompiles. One deployment may serve many
///    rollups, each with its own key.
/// 6. Deterministic deployment: no constructor that reads chain state or the deployer, so that
///    a node can check at start that the rollup's verifier runs exactly what the plugin's creation
///    bytecode deploys.
contract VerifierTemplate is IRollupVerifier {
    /// Most batches a proof may cover: bound your gas (obligation 2). RollupManager caps 64.
    uint256 internal constant MAX_BATCHES = 64;

    function verifyProof(bytes calldata vk, bytes calldata proof, Statement calldata st) external view returns (bool) {
        if (st.numBatches == 0 || st.numBatches > MAX_BATCHES) return false;
        if (!_wellFormed(vk, proof, st.numBatches)) return false;
        if (!_bindsStatement(proof, st)) return false;
        return _checkProof(vk, proof, st);
    }

    function checkVerifyingKey(bytes calldata vk) external view returns (bool) {
        return _wellFormedKey(vk);
    }

    // ---- fill these in for your proof system ----

    /// Exact lengths and formats of `vk` and `proof` for `numBatches` batches; false otherwise.
    function _wellFormed(bytes calldata vk, bytes calldata proof, uint256 numBatches) internal view virtual returns (bool) {
        vk;
        proof;
        numBatches;
        return false;
    }

    /// The proof's public values equal the statement: both roots, the accumulated input hash (or
    /// the commitments that rebuild it) and the prover.
    function _bindsStatement(bytes calldata proof, Statement calldata st) internal view virtual returns (bool) {
        proof;
        st;
        return false;
    }

    /// The proof system's check, under `vk`.
    function _checkProof(bytes calldata vk, bytes calldata proof, Statement calldata st) internal view virtual returns (bool) {
        vk;
        proof;
        st;
        return false;
    }

    /// A key `verifyProof` can use.
    function _wellFormedKey(bytes calldata vk) internal view virtual returns (bool) {
        vk;
        return false;
    }
}
