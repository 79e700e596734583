// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {MiniTest} from "./MiniTest.sol";
import {SimVerifier} from "../src/SimVerifier.sol";
import {Statement} from "../src/IRollupVerifier.sol";

contract SimVerifierTest is MiniTest {
    SimVerifier internal verifier;
    bytes32 internal constant OLD = keccak256("old root");
    bytes32 internal constant NEW = keccak256("new root");
    address internal constant PROVER = address(0xB0B);

    function setUp() public {
        verifier = new SimVerifier();
    }

    function proofOf(bytes32 oldRoot, bytes32 newRoot, address prover) internal pure returns (bytes memory) {
        return abi.encodePacked(keccak256(abi.encodePacked(oldRoot, newRoot, prover)), oldRoot, newRoot, prover);
    }

    function statement() internal pure returns (Statement memory st) {
        st.oldStateRoot = OLD;
        st.newStateRoot = NEW;
        st.prover = PROVER;
        st.numBatches = 1;
        st.chainId = 31337;
        st.rollupId = 1;
    }

    function test_valid_proof_verifies() public view {
        bytes memory proof = proofOf(OLD, NEW, PROVER);
        assertEq(proof.length, 116, "layout");
        assertTrue(verifier.verifyProof(new bytes(32), proof, statement()), "valid proof");
        // The key is not consulted: any key the registration accepted does.
        assertTrue(verifier.verifyProof("", proof, statement()), "any key");
    }

    function test_other_statement_fails() public view {
        bytes memory proof = proofOf(OLD, NEW, PROVER);
        Statement memory st = statement();
        st.oldStateRoot = bytes32(uint256(OLD) ^ 1);
        assertTrue(!verifier.verifyProof("", proof, st), "other old root");
        st = statement();
        st.newStateRoot = bytes32(uint256(NEW) ^ 1);
        assertTrue(!verifier.verifyProof("", proof, st), "other new root");
        st = statement();
        st.prover = address(0xBAD);
        assertTrue(!verifier.verifyProof("", proof, st), "other prover");
    }

    /// Embedded values and statement agree, but the tag does not commit to them.
    function test_wrong_tag_fails() public view {
        bytes memory proof = proofOf(OLD, NEW, PROVER);
        proof[0] ^= 0x01;
        assertTrue(!verifier.verifyProof("", proof, statement()), "flipped tag");
        bytes memory forged = abi.encodePacked(bytes32(0), OLD, NEW, PROVER);
        assertTrue(!verifier.verifyProof("", forged, statement()), "zero tag");
    }

    function testFuzz_any_flipped_byte_fails(uint8 pos, uint8 bit) public view {
        bytes memory proof = proofOf(OLD, NEW, PROVER);
        proof[uint256(pos) % proof.length] ^= bytes1(uint8(1) << (bit % 8));
        assertTrue(!verifier.verifyProof("", proof, statement()), "flipped proof accepted");
    }

    function testFuzz_wrong_length_fails(uint16 cut) public view {
        bytes memory proof = proofOf(OLD, NEW, PROVER);
        uint256 len = uint256(cut) % (proof.length + 64);
        vm.assume(len != proof.length);
        bytes memory other = new bytes(len);
        for (uint256 i = 0; i < len && i < proof.length; i++) {
            other[i] = proof[i];
        }
        assertTrue(!verifier.verifyProof("", other, statement()), "wrong length accepted");
        assertTrue(!verifier.verifyProof("", "", statement()), "empty proof accepted");
    }

    function test_verifying_key_is_any_32_bytes() public view {
        assertTrue(verifier.checkVerifyingKey(new bytes(32)), "32 zero bytes");
        assertTrue(verifier.checkVerifyingKey(abi.encodePacked(keccak256("k"))), "32 bytes");
        assertTrue(!verifier.checkVerifyingKey(""), "empty");
        assertTrue(!verifier.checkVerifyingKey(new bytes(31)), "31 bytes");
        assertTrue(!verifier.checkVerifyingKey(new bytes(33)), "33 bytes");
    }
}
