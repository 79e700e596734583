// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./Fixture.sol";
import {Vm} from "./MiniTest.sol";
import {RollupManager} from "../src/RollupManager.sol";
import {Stake} from "../src/Stake.sol";

contract RollupManagerTest is Fixture {
    // ------------------------------------------------------------ registration and sequencing

    function test_register_rejects_windows_longer_than_withdraw_delay() public {
        vm.expectRevert(abi.encodeWithSelector(RollupManager.InvalidWindows.selector, 30, 20, WITHDRAW_DELAY));
        manager.registerRollup(params(30, 20));
    }

    function test_register_rejects_malformed_verifying_key() public {
        RollupManager.RollupParams memory p = params(T1, T2);
        p.verifyingKey[100] ^= 0x01;
        vm.expectRevert(RollupManager.InvalidVerifyingKey.selector);
        manager.registerRollup(p);
    }

    function test_only_admin_registers_and_sets_windows() public {
        vm.prank(miners[0]);
        vm.expectRevert(RollupManager.NotAdmin.selector);
        manager.registerRollup(params(T1, T2));
        vm.prank(miners[0]);
        vm.expectRevert(RollupManager.NotAdmin.selector);
        manager.setWindows(rollupId, 1, 1);
        manager.setWindows(rollupId, 3, 4);
        (uint64 t1, uint64 t2) = manager.windows(rollupId);
        assertEq(t1, 3, "t1");
        assertEq(t2, 4, "t2");
    }

    function test_sequence_chains_the_accumulated_input_hash() public {
        sequence(0);
        sequence(1);
        bytes32 acc = keccak256(abi.encodePacked(block.chainid, address(manager), rollupId));
        for (uint256 s = 0; s < 2; s++) {
            bytes32[] memory c = vm.parseJsonBytes32Array(json, key(s, "commitments"));
            for (uint256 i = 0; i < c.length; i++) {
                acc = keccak256(abi.encodePacked(acc, c[i]));
            }
        }
        RollupManager.Sequence memory seq = manager.sequenceOf(rollupId, 3);
        assertEq(seq.accInputHash, acc, "acc input hash");
        assertEq(seq.initNumBatch, 1, "init");
        (uint64 lastSequenced,,,,,) = manager.rollupState(rollupId);
        assertEq(lastSequenced, 3, "last sequenced");
    }

    function test_one_sequence_per_block() public {
        sequence(0);
        bytes32[] memory c = vm.parseJsonBytes32Array(json, key(1, "commitments"));
        bytes[] memory d = vm.parseJsonBytesArray(json, key(1, "data"));
        vm.prank(sequencer);
        vm.expectRevert(RollupManager.OneSequencePerBlock.selector);
        manager.sequenceBatches(rollupId, c, d);
        vm.roll(block.number + 1);
        vm.prank(sequencer);
        manager.sequenceBatches(rollupId, c, d);
    }

    function test_only_sequencer_sequences_and_batch_counts_are_checked() public {
        bytes32[] memory c = new bytes32[](1);
        bytes[] memory d = new bytes[](1);
        vm.prank(miners[0]);
        vm.expectRevert(RollupManager.NotSequencer.selector);
        manager.sequenceBatches(rollupId, c, d);
        vm.prank(sequencer);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.BadBatchCount.selector, 0));
        manager.sequenceBatches(rollupId, new bytes32[](0), new bytes[](0));
        vm.prank(sequencer);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.BadBatchCount.selector, 1));
        manager.sequenceBatches(rollupId, c, new bytes[](2));
    }

    // ------------------------------------------------------------ the happy path

    function test_commit_then_reveal_in_window_verifies_and_pays() public {
        sequence(0);
        commit(0, 0);
        RollupManager.WindowState memory w = window(0);
        assertEq(w.window, 1, "window");
        assertEq(w.firstRevealBlock, block.number + T1, "first reveal");
        assertEq(w.deadline, block.number + T1 + T2, "deadline");
        vm.roll(w.firstRevealBlock);
        reveal(0, 0);
        (, uint64 lastVerified, bytes32 root, uint256 pool,,) = manager.rollupState(rollupId);
        assertEq(lastVerified, 1, "last verified");
        assertEq(root, newRoot(0), "state root");
        assertEq(manager.rewards(miners[0]), REWARD, "reward");
        assertEq(pool, 9 ether, "pool");
        RollupManager.Commitment memory c = manager.commitmentOf(rollupId, 1, 1, miners[0]);
        assertTrue(c.status == RollupManager.Status.Proved, "proved");
        uint256 before = miners[0].balance;
        vm.prank(miners[0]);
        manager.withdrawRewards();
        assertEq(miners[0].balance - before, REWARD, "withdrawn");
    }

    function test_two_and_four_batch_sequences_verify_in_order() public {
        for (uint256 s = 0; s < 3; s++) {
            sequence(s);
            commit(s, 1);
            vm.roll(block.number + T1);
            reveal(s, 1);
        }
        (, uint64 lastVerified, bytes32 root,,,) = manager.rollupState(rollupId);
        assertEq(lastVerified, 7, "last verified");
        assertEq(root, newRoot(2), "root");
        assertEq(manager.rewards(miners[1]), 3 * REWARD, "three rewards");
    }

    // ------------------------------------------------------------ windows

    function test_reveal_one_block_early_reverts() public {
        sequence(0);
        commit(0, 0);
        uint64 first = window(0).firstRevealBlock;
        vm.roll(first - 1);
        bytes memory proof = proofOf(0, 0);
        bytes32 root = newRoot(0);
        vm.prank(miners[0]);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.TooEarly.selector, first));
        manager.verifyBatches(rollupId, 0, 1, root, proof);
    }

    function test_reveal_at_deadline_succeeds_and_one_block_later_reverts() public {
        sequence(0);
        commit(0, 0);
        commit(0, 1);
        uint64 deadline = window(0).deadline;
        vm.roll(deadline + 1);
        bytes memory proof = proofOf(0, 0);
        bytes32 root = newRoot(0);
        vm.prank(miners[0]);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.TooLate.selector, deadline));
        manager.verifyBatches(rollupId, 0, 1, root, proof);
        // The same reveal at the deadline itself is in time (fresh state, same blocks).
        vm.roll(deadline);
        reveal(0, 1);
        assertEq(manager.rewards(miners[1]), REWARD * 3 / 4, "miner 1's share");
    }

    function test_commit_window_holds_t1_blocks() public {
        sequence(0);
        commit(0, 0);
        uint64 last = window(0).lastCommitBlock;
        vm.roll(last);
        commit(0, 1);
        vm.roll(last + 1);
        bytes32 h = hashOf(proofOf(0, 2), miners[2]);
        vm.prank(miners[2]);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.CommitWindowClosed.selector, last));
        manager.submitProofHash(rollupId, 0, 1, h);
    }

    function test_expired_window_is_replaced_by_the_next_commit() public {
        sequence(0);
        commit(0, 0);
        uint64 deadline = window(0).deadline;
        vm.roll(deadline + 1);
        commit(0, 1);
        RollupManager.WindowState memory w = window(0);
        assertEq(w.window, 2, "second window");
        assertEq(w.start, deadline + 1, "opened by the new commit");
        assertEq(w.committedStake, 3 ether, "old window's stake forgotten");
        // Miner 0's hash is from the old window: no reveal, but it may commit again.
        vm.roll(w.firstRevealBlock);
        bytes memory proof = proofOf(0, 0);
        bytes32 root = newRoot(0);
        vm.prank(miners[0]);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.CommitmentFromOlderWindow.selector, 1, 2));
        manager.verifyBatches(rollupId, 0, 1, root, proof);
        manager.slashUnrevealed(rollupId, 1, 1, miners[0]);
        assertEq(stake.stakeOf(miners[0]), 1 ether - NO_PROOF_PUNISH, "slashed for window 1");
        reveal(0, 1);
        assertEq(manager.rewards(miners[1]), REWARD, "window 2 pays");
    }

    function test_reveal_waits_for_the_previous_sequence_and_so_does_the_deadline() public {
        sequence(0);
        sequence(1);
        commit(0, 0);
        commit(1, 0);
        vm.roll(block.number + T1 + T2 + 3);
        bytes memory proof = proofOf(1, 0);
        bytes32 root = newRoot(1);
        vm.prank(miners[0]);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.PreviousSequenceNotVerified.selector, 1));
        manager.verifyBatches(rollupId, 1, 3, root, proof);
        assertEq(window(1).deadline, type(uint64).max, "no deadline while the previous is open");
        vm.expectRevert(abi.encodeWithSelector(RollupManager.WindowStillOpen.selector, type(uint64).max));
        manager.slashUnrevealed(rollupId, 3, 1, miners[0]);
        // Sequence 0's own deadline has passed with nobody proving: it needs a new window.
        uint64 deadline0 = window(0).deadline;
        bytes memory proof0 = proofOf(0, 0);
        bytes32 root0 = newRoot(0);
        vm.prank(miners[0]);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.TooLate.selector, deadline0));
        manager.verifyBatches(rollupId, 0, 1, root0, proof0);
        commit(0, 1);
        vm.roll(block.number + T1);
        reveal(0, 1);
        assertEq(window(1).deadline, block.number + T2, "deadline counts from the previous verification");
        vm.roll(block.number + T2);
        reveal(1, 0);
        (, uint64 lastVerified,,,,) = manager.rollupState(rollupId);
        assertEq(lastVerified, 3, "both verified");
    }

    // ------------------------------------------------------------ rewards

    function test_two_miners_are_paid_pro_rata_to_stake() public {
        sequence(0);
        commit(0, 0); // 1 ether staked
        commit(0, 1); // 3 ether staked
        vm.roll(window(0).firstRevealBlock);
        reveal(0, 1);
        reveal(0, 0);
        assertEq(manager.rewards(miners[0]), REWARD / 4, "1/4");
        assertEq(manager.rewards(miners[1]), REWARD * 3 / 4, "3/4");
        RollupManager.Sequence memory s = manager.sequenceOf(rollupId, 1);
        assertEq(uint160(s.verifiedBy), uint160(miners[1]), "first valid proof consolidates");
    }

    function testFuzz_reward_split_is_pro_rata_and_never_exceeds_the_reserve(uint96 a, uint96 b, uint96 c) public {
        uint256[3] memory extra = [uint256(a), b, c];
        uint256 total;
        for (uint256 i = 0; i < 3; i++) {
            vm.deal(miners[i], extra[i] + 1);
            vm.prank(miners[i]);
            stake.deposit{value: extra[i] + 1}();
            total += stake.stakeOf(miners[i]);
        }
        sequence(0);
        for (uint256 i = 0; i < 3; i++) {
            commit(0, i);
        }
        vm.roll(window(0).firstRevealBlock);
        uint256 paid;
        for (uint256 i = 0; i < 3; i++) {
            reveal(0, i);
            uint256 want = REWARD * stake.stakeOf(miners[i]) / total;
            assertEq(manager.rewards(miners[i]), want, "share");
            paid += want;
        }
        assertTrue(paid <= REWARD && REWARD - paid < 3, "all but rounding dust is paid");
    }

    function test_reward_is_limited_by_the_funded_pool() public {
        RollupManager.RollupParams memory p = params(T1, T2);
        uint32 unfunded = manager.registerRollup(p);
        vm.roll(block.number + 1);
        vm.prank(sequencer);
        manager.sequenceBatches(
            unfunded, vm.parseJsonBytes32Array(json, key(0, "commitments")), vm.parseJsonBytesArray(json, key(0, "data"))
        );
        // The same genesis and batches: the same proof proves the same transition here.
        vm.prank(miners[0]);
        manager.submitProofHash(unfunded, 0, 1, hashOf(proofOf(0, 0), miners[0]));
        vm.roll(block.number + T1);
        vm.prank(miners[0]);
        manager.verifyBatches(unfunded, 0, 1, newRoot(0), proofOf(0, 0));
        (, uint64 lastVerified,,,,) = manager.rollupState(unfunded);
        assertEq(lastVerified, 1, "verified");
        assertEq(manager.rewards(miners[0]), 0, "nothing minted");
    }

    // ------------------------------------------------------------ slashing

    function test_bad_proof_is_slashed_without_revert() public {
        sequence(0);
        bytes memory bad = proofOf(0, 0);
        bad[40] ^= 0x01; // inside A of the batch proof
        vm.prank(miners[0]);
        manager.submitProofHash(rollupId, 0, 1, hashOf(bad, miners[0]));
        vm.roll(window(0).firstRevealBlock);
        revealProof(0, 0, bad);
        assertEq(stake.stakeOf(miners[0]), 1 ether - BAD_PROOF_PUNISH, "slashed");
        (, uint64 lastVerified,, uint256 pool,,) = manager.rollupState(rollupId);
        assertEq(lastVerified, 0, "not verified");
        assertEq(pool, 10 ether + BAD_PROOF_PUNISH, "slash funds the pool");
        RollupManager.Commitment memory c = manager.commitmentOf(rollupId, 1, 1, miners[0]);
        assertTrue(c.status == RollupManager.Status.Slashed, "settled as slashed");
    }

    function test_mismatched_hash_is_slashed_without_revert() public {
        sequence(0);
        vm.prank(miners[0]);
        manager.submitProofHash(rollupId, 0, 1, keccak256("not the proof"));
        vm.roll(window(0).firstRevealBlock);
        reveal(0, 0); // a valid proof, but not the committed one
        assertEq(stake.stakeOf(miners[0]), 1 ether - BAD_PROOF_PUNISH, "slashed");
        (, uint64 lastVerified,,,,) = manager.rollupState(rollupId);
        assertEq(lastVerified, 0, "not verified");
    }

    function test_a_copied_proof_is_worthless() public {
        sequence(0);
        bytes memory stolen = proofOf(0, 0);
        vm.prank(miners[2]);
        manager.submitProofHash(rollupId, 0, 1, hashOf(stolen, miners[2]));
        vm.roll(window(0).firstRevealBlock);
        revealProof(0, 2, stolen);
        assertEq(stake.stakeOf(miners[2]), 2 ether - BAD_PROOF_PUNISH, "copier slashed");
        assertEq(manager.rewards(miners[2]), 0, "copier unpaid");
    }

    function test_unrevealed_commitment_is_slashed_even_when_another_miner_proved() public {
        sequence(0);
        commit(0, 0);
        commit(0, 1);
        vm.roll(window(0).firstRevealBlock);
        reveal(0, 0);
        uint64 deadline = window(0).deadline;
        vm.expectRevert(abi.encodeWithSelector(RollupManager.WindowStillOpen.selector, deadline));
        manager.slashUnrevealed(rollupId, 1, 1, miners[1]);
        vm.roll(deadline + 1);
        manager.slashUnrevealed(rollupId, 1, 1, miners[1]);
        assertEq(stake.stakeOf(miners[1]), 3 ether - NO_PROOF_PUNISH, "slashed");
        (,,, uint256 pool,,) = manager.rollupState(rollupId);
        uint256 fee = NO_PROOF_PUNISH * KEEPER_SHARE_BPS / 10_000;
        // 10 - 1 reserved + 3/4 returned (miner 1's unearned share) + the slash less the keeper's fee.
        assertEq(pool, 9 ether + REWARD * 3 / 4 + NO_PROOF_PUNISH - fee, "pool");
        assertEq(manager.rewards(address(this)), fee, "the caller is paid the keeper share");
        vm.expectRevert(abi.encodeWithSelector(RollupManager.AlreadySettled.selector, RollupManager.Status.Slashed));
        manager.slashUnrevealed(rollupId, 1, 1, miners[1]);
    }

    function test_register_rejects_a_keeper_share_above_half() public {
        RollupManager.RollupParams memory p = params(T1, T2);
        p.keeperShareBps = manager.MAX_KEEPER_SHARE_BPS() + 1;
        vm.expectRevert(RollupManager.InvalidParams.selector);
        manager.registerRollup(p);
        p.keeperShareBps = manager.MAX_KEEPER_SHARE_BPS();
        uint32 id = manager.registerRollup(p);
        (,, uint16 bps) = manager.punishments(id);
        assertEq(bps, 5_000, "half is allowed");
    }

    function test_keeper_share_is_credited_as_a_withdrawable_reward() public {
        sequence(0);
        commit(0, 0);
        vm.roll(window(0).deadline + 1);
        address keeper = address(0xBEEF);
        vm.prank(keeper);
        manager.slashUnrevealed(rollupId, 1, 1, miners[0]);
        uint256 fee = NO_PROOF_PUNISH * KEEPER_SHARE_BPS / 10_000;
        assertEq(manager.rewards(keeper), fee, "keeper credited");
        vm.prank(keeper);
        manager.withdrawRewards();
        assertEq(keeper.balance, fee, "keeper withdrew its share");
    }

    function test_no_keeper_share_leaves_the_whole_slash_to_the_pool() public {
        RollupManager.RollupParams memory p = params(T1, T2);
        p.keeperShareBps = 0;
        uint32 id = manager.registerRollup(p);
        vm.roll(block.number + 1);
        vm.prank(sequencer);
        manager.sequenceBatches(id, vm.parseJsonBytes32Array(json, key(0, "commitments")), vm.parseJsonBytesArray(json, key(0, "data")));
        vm.prank(miners[0]);
        manager.submitProofHash(id, 0, 1, hashOf(proofOf(0, 0), miners[0]));
        vm.roll(manager.windowState(id, 1).deadline + 1);
        vm.recordLogs();
        manager.slashUnrevealed(id, 1, 1, miners[0]);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 2, "Slashed and ProofSlashed");
        for (uint256 i = 0; i < logs.length; i++) {
            assertTrue(logs[i].topics[0] != RollupManager.KeeperPaid.selector, "no KeeperPaid");
        }
        assertEq(manager.rewards(address(this)), 0, "no fee");
        (,,, uint256 pool,,) = manager.rollupState(id);
        assertEq(pool, NO_PROOF_PUNISH, "all to the pool");
    }

    /// Every reward rule at once, fuzzed: stakes, which miners reveal (in or after the window, or
    /// never), the keeper share, and a punishment larger than some stakes. Whatever happens, the
    /// manager holds exactly the pool plus every credited reward (nothing minted, nothing lost),
    /// the keeper gets exactly its share of each slash, and the reserve is never overpaid.
    function testFuzz_reward_rules_with_a_keeper_conserve_value(uint64 a, uint64 b, uint64 c, uint16 bpsRaw, uint8 plan)
        public
    {
        RollupManager.RollupParams memory p = params(T1, T2);
        p.keeperShareBps = uint16(bpsRaw % (manager.MAX_KEEPER_SHARE_BPS() + 1));
        p.noProofPunishAmount = 2 ether; // more than some stakes: the slash takes what there is
        uint32 id = manager.registerRollup(p);
        manager.fundRewards{value: 5 ether}(id);
        uint256[3] memory extra = [uint256(a), b, c];
        for (uint256 i = 0; i < 3; i++) {
            vm.deal(miners[i], extra[i] + 1);
            vm.prank(miners[i]);
            stake.deposit{value: extra[i] + 1}();
        }
        vm.roll(block.number + 1);
        vm.prank(sequencer);
        manager.sequenceBatches(id, vm.parseJsonBytes32Array(json, key(0, "commitments")), vm.parseJsonBytesArray(json, key(0, "data")));
        for (uint256 i = 0; i < 3; i++) {
            vm.prank(miners[i]);
            manager.submitProofHash(id, 0, 1, hashOf(proofOf(0, i), miners[i]));
        }
        RollupManager.WindowState memory w = manager.windowState(id, 1);
        vm.roll(w.firstRevealBlock);
        // plan: two bits per miner: 0 reveals in the window, 1 after the deadline, 2 or 3 never.
        for (uint256 i = 0; i < 3; i++) {
            if ((plan >> (2 * i)) & 3 == 0) {
                vm.prank(miners[i]);
                manager.verifyBatches(id, 0, 1, newRoot(0), proofOf(0, i));
            }
        }
        vm.roll(w.deadline + 1);
        address keeper = address(0xBEEF);
        uint256 fees;
        for (uint256 i = 0; i < 3; i++) {
            uint256 mode = (plan >> (2 * i)) & 3;
            uint256 poolBefore = poolOf(id);
            if (mode == 1 && manager.sequenceOf(id, 1).verifiedAt != 0) {
                vm.prank(miners[i]);
                manager.verifyBatches(id, 0, 1, newRoot(0), proofOf(0, i));
                assertEq(manager.rewards(miners[i]), 0, "late: unpaid");
            } else if (mode != 0) {
                uint256 before = stake.stakeOf(miners[i]);
                uint256 feeBefore = manager.rewards(keeper);
                vm.prank(keeper);
                manager.slashUnrevealed(id, 1, 1, miners[i]);
                uint256 taken = before - stake.stakeOf(miners[i]);
                assertEq(taken, before < 2 ether ? before : 2 ether, "takes what there is, up to the punishment");
                uint256 fee = manager.rewards(keeper) - feeBefore;
                assertEq(fee, taken * p.keeperShareBps / 10_000, "keeper share");
                assertTrue(poolOf(id) >= poolBefore + taken - fee, "the rest of the slash goes to the pool");
                fees += fee;
            }
        }
        uint256 pool = poolOf(id);
        uint256 credited = manager.rewards(keeper);
        for (uint256 i = 0; i < 3; i++) {
            credited += manager.rewards(miners[i]);
        }
        // Pro-rata shares round down: at most one wei per committer and rounding stays behind.
        uint256 owed = pool + poolOf(rollupId) + credited;
        assertTrue(address(manager).balance >= owed, "the manager holds the pools and the credits");
        assertTrue(address(manager).balance - owed <= 6, "only rounding dust is unaccounted");
        assertTrue(credited - fees <= REWARD, "the reserve is never overpaid");
    }

    function poolOf(uint32 id) private view returns (uint256 pool) {
        (,,, pool,,) = manager.rollupState(id);
    }

    function test_late_reveal_after_someone_proved_is_accepted_without_reward() public {
        sequence(0);
        commit(0, 0);
        commit(0, 1);
        vm.roll(window(0).firstRevealBlock);
        reveal(0, 0);
        vm.roll(window(0).deadline + 5);
        reveal(0, 1);
        assertEq(stake.stakeOf(miners[1]), 3 ether, "not slashed");
        assertEq(manager.rewards(miners[1]), 0, "no reward after the deadline");
        vm.expectRevert(abi.encodeWithSelector(RollupManager.AlreadySettled.selector, RollupManager.Status.Proved));
        manager.slashUnrevealed(rollupId, 1, 1, miners[1]);
    }

    function test_too_little_gas_reverts_instead_of_slashing() public {
        sequence(0);
        commit(0, 0);
        vm.roll(window(0).firstRevealBlock);
        bytes memory call = abi.encodeCall(RollupManager.verifyBatches, (rollupId, 0, 1, newRoot(0), proofOf(0, 0)));
        vm.prank(miners[0]);
        (bool ok,) = address(manager).call{gas: 300_000}(call);
        assertTrue(!ok, "reverted");
        assertEq(stake.stakeOf(miners[0]), 1 ether, "not slashed");
        reveal(0, 0);
        assertEq(manager.rewards(miners[0]), REWARD, "then proved with enough gas");
    }

    // ------------------------------------------------------------ commit guards

    function test_commit_guards() public {
        sequence(0);
        sequence(1);
        bytes32 h = hashOf(proofOf(0, 0), miners[0]);
        vm.startPrank(miners[0]);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.WrongInitNumBatch.selector, 0, 1));
        manager.submitProofHash(rollupId, 1, 1, h);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.UnknownSequence.selector, 2));
        manager.submitProofHash(rollupId, 1, 2, h);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.UnknownRollup.selector, 9));
        manager.submitProofHash(9, 0, 1, h);
        manager.submitProofHash(rollupId, 0, 1, h);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.AlreadyCommitted.selector, 1));
        manager.submitProofHash(rollupId, 0, 1, h);
        vm.stopPrank();

        address poor = address(0xB0B);
        vm.deal(poor, 1 ether);
        vm.startPrank(poor);
        stake.deposit{value: 0.5 ether}();
        vm.expectRevert(abi.encodeWithSelector(RollupManager.StakeTooLow.selector, 0.5 ether, MIN_STAKE));
        manager.submitProofHash(rollupId, 0, 1, h);
        vm.expectRevert(RollupManager.NoCommitment.selector);
        manager.verifyBatches(rollupId, 0, 1, newRoot(0), proofOf(0, 0));
        vm.stopPrank();

        vm.roll(window(0).firstRevealBlock);
        reveal(0, 0);
        vm.prank(miners[1]);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.AlreadyVerified.selector, 1));
        manager.submitProofHash(rollupId, 0, 1, h);
        vm.prank(miners[0]);
        vm.expectRevert(abi.encodeWithSelector(RollupManager.AlreadySettled.selector, RollupManager.Status.Proved));
        manager.verifyBatches(rollupId, 0, 1, newRoot(0), proofOf(0, 0));
    }

    /// Window arithmetic over random T1, T2 and offsets: a commit at S + a is accepted iff a < T1;
    /// a reveal at S + T1 + b (nobody proved before) iff b <= T2.
    function testFuzz_window_arithmetic(uint8 t1Raw, uint8 t2Raw, uint8 a, uint8 b) public {
        uint64 t1 = uint64(t1Raw % 20) + 1;
        uint64 t2 = uint64(t2Raw % (WITHDRAW_DELAY - t1 - 1)) + 1;
        manager.setWindows(rollupId, t1, t2);
        sequence(0);
        commit(0, 0);
        uint64 s = uint64(block.number);
        vm.roll(s + a);
        bytes32 h = hashOf(proofOf(0, 1), miners[1]);
        vm.prank(miners[1]);
        (bool committed,) =
            address(manager).call(abi.encodeCall(RollupManager.submitProofHash, (rollupId, 0, 1, h)));
        bool expired = a > t1 + t2;
        assertTrue(committed == (a < t1 || expired), "commit accepted iff inside T1 (or after expiry)");
        vm.assume(!expired);
        uint64 revealAt = s + t1 + b;
        if (revealAt < block.number) revealAt = uint64(block.number);
        vm.roll(revealAt);
        bytes memory call = abi.encodeCall(RollupManager.verifyBatches, (rollupId, 0, 1, newRoot(0), proofOf(0, 0)));
        vm.prank(miners[0]);
        (bool revealed,) = address(manager).call(call);
        assertTrue(revealed == (revealAt <= s + t1 + t2), "reveal accepted iff by the deadline");
    }
}
