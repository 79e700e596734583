// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {MiniTest} from "./MiniTest.sol";
import {VerifierTemplate} from "../src/templates/VerifierTemplate.sol";
import {Statement} from "../src/IRollupVerifier.sol";

/// The unfilled template already keeps obligation 1: whatever it is given, it answers false and
/// does not revert (a copy that is deployed before it is filled in can slash nobody honest: it
/// cannot be registered, since it accepts no key).
contract VerifierTemplateTest is MiniTest {
    VerifierTemplate internal verifier;

    function setUp() public {
        verifier = new VerifierTemplate();
    }

    function testFuzz_unfilled_template_refuses_everything_without_reverting(bytes calldata vk, bytes calldata proof, uint64 n)
        public
        view
    {
        Statement memory st;
        st.numBatches = n;
        st.prover = address(0xB0B);
        assertTrue(!verifier.verifyProof(vk, proof, st), "refuses");
        assertTrue(!verifier.checkVerifyingKey(vk), "accepts no key");
    }
}
