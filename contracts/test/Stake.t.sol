// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./Fixture.sol";
import {Stake} from "../src/Stake.sol";

contract StakeTest is Fixture {
    function test_withdraw_waits_for_the_delay() public {
        vm.startPrank(miners[0]);
        stake.requestWithdraw(0.4 ether);
        assertEq(stake.stakeOf(miners[0]), 0.6 ether, "active shrinks at once");
        uint64 unlock = uint64(block.number) + WITHDRAW_DELAY;
        vm.roll(unlock - 1);
        vm.expectRevert(abi.encodeWithSelector(Stake.WithdrawLocked.selector, unlock));
        stake.withdraw();
        vm.roll(unlock);
        uint256 before = miners[0].balance;
        stake.withdraw();
        assertEq(miners[0].balance - before, 0.4 ether, "paid");
        vm.expectRevert(Stake.NothingPending.selector);
        stake.withdraw();
        vm.stopPrank();
    }

    function test_withdraw_waits_for_open_commitments_to_be_settled() public {
        sequence(0);
        commit(0, 0);
        vm.prank(miners[0]);
        stake.requestWithdraw(1 ether);
        vm.roll(block.number + WITHDRAW_DELAY);
        vm.prank(miners[0]);
        vm.expectRevert(abi.encodeWithSelector(Stake.UnsettledCommitments.selector, 1));
        stake.withdraw();
        // Nobody revealed: anyone settles the slash, then what is left can leave.
        manager.slashUnrevealed(rollupId, 1, 1, miners[0]);
        uint256 before = miners[0].balance;
        vm.prank(miners[0]);
        stake.withdraw();
        assertEq(miners[0].balance - before, 1 ether - NO_PROOF_PUNISH, "slash taken from pending stake");
    }

    function test_slash_takes_no_more_than_there_is_and_never_reverts() public {
        stake.setOperator(address(this), true);
        uint256 taken = stake.slash(miners[0], 5 ether);
        assertEq(taken, 1 ether, "all there was");
        assertEq(stake.slash(miners[0], 1 ether), 0, "nothing left, no revert");
    }

    function test_only_operators_lock_slash_and_seize() public {
        vm.expectRevert(Stake.NotOperator.selector);
        stake.slash(miners[0], 1);
        vm.expectRevert(Stake.NotOperator.selector);
        stake.seize(miners[0], 1);
        vm.expectRevert(Stake.NotOperator.selector);
        stake.lock(miners[0]);
        vm.prank(miners[0]);
        vm.expectRevert(Stake.NotAdmin.selector);
        stake.setOperator(miners[0], true);
    }

    function test_seize_needs_the_whole_amount() public {
        stake.setOperator(address(this), true);
        vm.expectRevert(abi.encodeWithSelector(Stake.InsufficientStake.selector, 1 ether, 2 ether));
        stake.seize(miners[0], 2 ether);
    }

    receive() external payable {}
}
