// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Groth16BatchVerifier} from "./Groth16BatchVerifier.sol";
import {Statement} from "./IRollupVerifier.sol";

/// @title TallyVerifier
/// @notice The `tally-groth16` plugin's own verifier, written from `templates/VerifierTemplate.sol`:
/// the plugin carries this contract's creation bytecode (`plugins/tally-groth16/TallyVerifier.bin`,
/// written by `contracts/artifacts.py`) and names it in its metadata, so every chain the rollup is
/// registered on gets a deployment of it. Its proofs are the SDK Groth16 kit's, so the check (and
/// with it every obligation of the template) is the standard verifier's. What is the rollup's own
/// is its gas policy: at most MAX_TALLY_BATCHES batches per sequence, so that the rollup can
/// register a verifier gas budget for 16 batches, not 64. The plugin declares the same bound
/// (`Rollup::MAX_BATCHES`) and never aggregates more, so an honest miner never reveals a proof this
/// contract refuses.
contract TallyVerifier is Groth16BatchVerifier {
    uint256 public constant MAX_TALLY_BATCHES = 16;

    function verifyProof(bytes calldata vk, bytes calldata proof, Statement calldata st) public view override returns (bool) {
        if (st.numBatches > MAX_TALLY_BATCHES) return false;
        return super.verifyProof(vk, proof, st);
    }
}
