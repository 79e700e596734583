// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IRollupVerifier, Statement} from "./IRollupVerifier.sol";
import {IProofRequester} from "./ProofPool.sol";

/// @title ExampleRequester
/// @notice A ZK project buying proofs from the pool: it publishes the statements it wants proved
/// and judges a proof with a real SNARK verifier (the reference Groth16 one) under its own key.
contract ExampleRequester is IProofRequester {
    IRollupVerifier public immutable verifier;
    bytes public verifyingKey;
    mapping(bytes32 => Statement) internal statements;

    event StatementPublished(bytes32 indexed taskDigest);

    error UnknownTask(bytes32 taskDigest);

    constructor(IRollupVerifier verifier_, bytes memory verifyingKey_) {
        verifier = verifier_;
        verifyingKey = verifyingKey_;
    }

    /// Records a statement to be proved; its digest goes into the pool quote.
    function publish(Statement calldata st) external returns (bytes32 taskDigest) {
        taskDigest = keccak256(abi.encode(st));
        statements[taskDigest] = st;
        emit StatementPublished(taskDigest);
    }

    function verifyTaskProof(bytes32 taskDigest, bytes calldata proof) external view returns (bool) {
        Statement memory st = statements[taskDigest];
        if (st.numBatches == 0) revert UnknownTask(taskDigest);
        return verifier.verifyProof(verifyingKey, proof, st);
    }
}
