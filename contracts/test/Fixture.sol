// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {MiniTest} from "./MiniTest.sol";
import {Stake} from "../src/Stake.sol";
import {RollupManager} from "../src/RollupManager.sol";
import {Groth16BatchVerifier} from "../src/Groth16BatchVerifier.sol";
import {IRollupVerifier, Statement} from "../src/IRollupVerifier.sol";

/// Deploys the contracts and registers the reference rollup with real keys and proofs from
/// vectors/transfer-groth16.json (made by the plugin; see vectors/generate.py).
abstract contract Fixture is MiniTest {
    uint64 internal constant T1 = 5;
    uint64 internal constant T2 = 10;
    uint64 internal constant WITHDRAW_DELAY = 50;
    uint256 internal constant REWARD = 1 ether;
    uint256 internal constant MIN_STAKE = 1 ether;
    uint256 internal constant BAD_PROOF_PUNISH = 0.5 ether;
    uint256 internal constant NO_PROOF_PUNISH = 0.3 ether;
    uint64 internal constant GAS_UNIT = 80_000;
    uint16 internal constant KEEPER_SHARE_BPS = 1_000;

    Stake internal stake;
    RollupManager internal manager;
    Groth16BatchVerifier internal verifier;
    uint32 internal rollupId;
    address internal sequencer = address(0x5E0);
    string internal json;
    address[] internal miners;
    /// finalNewBatch of vector sequence i: 1, 3, 7.
    uint64[3] internal finals = [uint64(1), 3, 7];
    uint64[3] internal inits = [uint64(0), 1, 3];

    function setUp() public virtual {
        vm.roll(100);
        json = vm.readFile("vectors/transfer-groth16.json");
        miners = vm.parseJsonAddressArray(json, ".miners");
        stake = new Stake(WITHDRAW_DELAY);
        manager = new RollupManager(stake);
        verifier = new Groth16BatchVerifier();
        stake.setOperator(address(manager), true);
        rollupId = manager.registerRollup(params(T1, T2));
        vm.deal(address(this), 100 ether);
        manager.fundRewards{value: 10 ether}(rollupId);
        uint256[3] memory stakes = [uint256(1 ether), 3 ether, 2 ether];
        for (uint256 i = 0; i < 3; i++) {
            vm.deal(miners[i], 10 ether);
            vm.prank(miners[i]);
            stake.deposit{value: stakes[i]}();
        }
    }

    function params(uint64 t1, uint64 t2) internal view returns (RollupManager.RollupParams memory) {
        return RollupManager.RollupParams({
            verifier: IRollupVerifier(address(verifier)),
            verifyingKey: vm.parseJsonBytes(json, ".verifyingKey"),
            sequencer: sequencer,
            genesisStateRoot: vm.parseJsonBytes32(json, ".genesisStateRoot"),
            t1: t1,
            t2: t2,
            rewardPerSequence: REWARD,
            minStake: MIN_STAKE,
            incorrectProofPunishAmount: BAD_PROOF_PUNISH,
            noProofPunishAmount: NO_PROOF_PUNISH,
            verifierGasUnit: GAS_UNIT,
            keeperShareBps: KEEPER_SHARE_BPS
        });
    }

    function key(uint256 s, string memory field) internal pure returns (string memory) {
        return string.concat(".sequences[", vm.toString(s), "].", field);
    }

    function proofOf(uint256 s, uint256 miner) internal view returns (bytes memory) {
        return vm.parseJsonBytesArray(json, key(s, "proofs"))[miner];
    }

    function newRoot(uint256 s) internal view returns (bytes32) {
        return vm.parseJsonBytes32(json, key(s, "newStateRoot"));
    }

    /// Posts vector sequence `s` in a block of its own.
    function sequence(uint256 s) internal {
        vm.roll(block.number + 1);
        vm.prank(sequencer);
        manager.sequenceBatches(
            rollupId, vm.parseJsonBytes32Array(json, key(s, "commitments")), vm.parseJsonBytesArray(json, key(s, "data"))
        );
    }

    function hashOf(bytes memory proof, address miner) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(keccak256(proof), miner));
    }

    function commit(uint256 s, uint256 miner) internal {
        vm.prank(miners[miner]);
        manager.submitProofHash(rollupId, inits[s], finals[s], hashOf(proofOf(s, miner), miners[miner]));
    }

    function reveal(uint256 s, uint256 miner) internal {
        revealProof(s, miner, proofOf(s, miner));
    }

    function revealProof(uint256 s, uint256 miner, bytes memory proof) internal {
        vm.prank(miners[miner]);
        manager.verifyBatches(rollupId, inits[s], finals[s], newRoot(s), proof);
    }

    function window(uint256 s) internal view returns (RollupManager.WindowState memory) {
        return manager.windowState(rollupId, finals[s]);
    }

    /// The statement of vector sequence `s` as rollup `rollupId` records it, for `miner`.
    function statementOf(uint256 s, uint256 miner) internal view returns (Statement memory st) {
        bytes32 acc = keccak256(abi.encodePacked(block.chainid, address(manager), rollupId));
        bytes32 old;
        for (uint256 k = 0; k <= s; k++) {
            old = acc;
            bytes32[] memory c = vm.parseJsonBytes32Array(json, key(k, "commitments"));
            for (uint256 i = 0; i < c.length; i++) {
                acc = keccak256(abi.encodePacked(acc, c[i]));
            }
        }
        st.oldStateRoot = vm.parseJsonBytes32(json, key(s, "oldStateRoot"));
        st.newStateRoot = newRoot(s);
        st.oldAccInputHash = old;
        st.newAccInputHash = acc;
        st.prover = miners[miner];
        st.numBatches = finals[s] - inits[s];
        st.chainId = block.chainid;
        st.rollupId = rollupId;
    }

    function vk() internal view returns (bytes memory) {
        return vm.parseJsonBytes(json, ".verifyingKey");
    }
}
