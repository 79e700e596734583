// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./Fixture.sol";
import {Statement} from "../src/IRollupVerifier.sol";

contract Groth16BatchVerifierTest is Fixture {
    function test_real_proofs_of_1_2_and_4_batches_verify() public view {
        for (uint256 s = 0; s < 3; s++) {
            for (uint256 m = 0; m < 3; m++) {
                assertTrue(verifier.verifyProof(vk(), proofOf(s, m), statementOf(s, m)), "valid proof");
            }
        }
    }

    function test_wrong_statement_fails() public view {
        Statement memory st = statementOf(1, 0);
        bytes memory proof = proofOf(1, 0);
        st.prover = miners[1];
        assertTrue(!verifier.verifyProof(vk(), proof, st), "other prover");
        st = statementOf(1, 0);
        st.newStateRoot = bytes32(uint256(st.newStateRoot) ^ 1);
        assertTrue(!verifier.verifyProof(vk(), proof, st), "other new root");
        st = statementOf(1, 0);
        st.oldAccInputHash = bytes32(0);
        assertTrue(!verifier.verifyProof(vk(), proof, st), "other input hash");
        st = statementOf(1, 0);
        st.numBatches = 4;
        assertTrue(!verifier.verifyProof(vk(), proof, st), "other batch count");
        assertTrue(!verifier.verifyProof(vk(), proofOf(2, 0), statementOf(1, 0)), "other sequence's proof");
    }

    /// Any flipped byte of a 2-batch proof makes it fail, and never makes the verifier revert.
    function testFuzz_any_flipped_byte_fails(uint16 pos, uint8 bit) public view {
        bytes memory proof = proofOf(1, 0);
        uint256 i = uint256(pos) % proof.length;
        proof[i] ^= bytes1(uint8(1) << (bit % 8));
        assertTrue(!verifier.verifyProof(vk(), proof, statementOf(1, 0)), "flipped proof accepted");
    }

    function testFuzz_truncated_or_extended_proofs_fail(uint16 cut) public view {
        bytes memory proof = proofOf(0, 0);
        uint256 len = uint256(cut) % (proof.length + 64);
        vm.assume(len != proof.length);
        bytes memory other = new bytes(len);
        for (uint256 i = 0; i < len && i < proof.length; i++) {
            other[i] = proof[i];
        }
        assertTrue(!verifier.verifyProof(vk(), other, statementOf(0, 0)), "wrong length accepted");
    }

    function test_verifying_key_checks() public view {
        assertTrue(verifier.checkVerifyingKey(vk()), "real key");
        bytes memory k = vk();
        k[0] = "X";
        assertTrue(!verifier.checkVerifyingKey(k), "magic");
        k = vk();
        k[200] ^= 0x04; // inside gamma (G2)
        assertTrue(!verifier.checkVerifyingKey(k), "gamma off the curve");
        assertTrue(!verifier.checkVerifyingKey(new bytes(776)), "all zero has no magic");
    }
}
