// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./Fixture.sol";
import {Statement} from "../src/IRollupVerifier.sol";
import {TallyVerifier} from "../src/TallyVerifier.sol";

/// The tally plugin's own verifier checks the kit's proofs as the standard one does, and refuses,
/// without reverting, sequences longer than its bound.
contract TallyVerifierTest is Fixture {
    function test_real_kit_proofs_verify_as_with_the_standard_verifier() public {
        TallyVerifier tally = new TallyVerifier();
        for (uint256 s = 0; s < 3; s++) {
            assertTrue(tally.verifyProof(vk(), proofOf(s, 0), statementOf(s, 0)), "valid proof");
        }
        Statement memory st = statementOf(1, 0);
        st.prover = miners[1];
        assertTrue(!tally.verifyProof(vk(), proofOf(1, 0), st), "other prover");
        assertTrue(tally.checkVerifyingKey(vk()), "the kit's key");
    }

    function testFuzz_longer_sequences_are_refused_without_reverting(uint64 n) public {
        TallyVerifier tally = new TallyVerifier();
        vm.assume(n > tally.MAX_TALLY_BATCHES());
        Statement memory st = statementOf(2, 0);
        st.numBatches = n;
        assertTrue(!tally.verifyProof(vk(), proofOf(2, 0), st), "too many batches");
    }
}
