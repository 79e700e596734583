// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./Fixture.sol";
import {ProofPool, IProofRequester} from "../src/ProofPool.sol";
import {ExampleRequester} from "../src/ExampleRequester.sol";
import {IRollupVerifier, Statement} from "../src/IRollupVerifier.sol";

contract ProofPoolTest is Fixture {
    ProofPool internal pool;
    ExampleRequester internal requester;
    uint256 internal constant SERVICE_KEY = 0xA11CE;
    address internal service;
    address internal buyer = address(0xB0B);

    function setUp() public override {
        super.setUp();
        pool = new ProofPool(stake);
        stake.setOperator(address(pool), true);
        requester = new ExampleRequester(IRollupVerifier(address(verifier)), vk());
        service = vm.addr(SERVICE_KEY);
        vm.deal(service, 10 ether);
        vm.prank(service);
        stake.deposit{value: 5 ether}();
        vm.deal(buyer, 10 ether);
    }

    /// A quote for proving vector sequence 0, which the service proves under its own address:
    /// the statement names `miners[0]`, whose proof the service holds in the vectors.
    function quote(uint256 salt) internal returns (ProofPool.Quote memory q) {
        Statement memory st = statementOf(0, 0);
        q = ProofPool.Quote({
            service: service,
            requester: buyer,
            verifier: IProofRequester(address(requester)),
            taskDigest: requester.publish(st),
            reward: 0.2 ether,
            liability: 2 ether,
            deadlineBlock: uint64(block.number + 20),
            expiryBlock: uint64(block.number + 5),
            salt: salt
        });
    }

    function signed(ProofPool.Quote memory q, uint256 signer) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signer, pool.quoteDigest(q));
        return abi.encodePacked(r, s, v);
    }

    function submit(ProofPool.Quote memory q) internal returns (bytes32 id) {
        bytes memory sig = signed(q, SERVICE_KEY);
        vm.prank(buyer);
        id = pool.submitTask{value: q.reward}(q, sig);
    }

    function test_task_proved_in_time_pays_once_and_releases_liability() public {
        ProofPool.Quote memory q = quote(1);
        bytes32 id = submit(q);
        assertEq(stake.stakeOf(service), 3 ether, "liability escrowed");
        bytes memory proof = proofOf(0, 0);
        vm.prank(service);
        pool.proveTask(id, proof);
        assertEq(pool.balances(service), 0.2 ether, "reward");
        assertEq(stake.stakeOf(service), 5 ether, "liability back");
        vm.prank(service);
        vm.expectRevert(abi.encodeWithSelector(ProofPool.NotOpen.selector, ProofPool.Status.Proved));
        pool.proveTask(id, proof);
        vm.roll(q.deadlineBlock + 1);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ProofPool.NotOpen.selector, ProofPool.Status.Proved));
        pool.claimLiability(id);
        uint256 before = service.balance;
        vm.prank(service);
        pool.withdraw();
        assertEq(service.balance - before, 0.2 ether, "withdrawn once");
        vm.prank(service);
        vm.expectRevert(ProofPool.NothingToWithdraw.selector);
        pool.withdraw();
    }

    function test_invalid_proof_is_refused() public {
        bytes32 id = submit(quote(1));
        bytes memory proof = proofOf(0, 1); // bound to another miner than the statement names
        vm.prank(service);
        vm.expectRevert(ProofPool.InvalidProof.selector);
        pool.proveTask(id, proof);
    }

    function test_unproved_task_is_claimable_once_after_the_deadline() public {
        ProofPool.Quote memory q = quote(1);
        bytes32 id = submit(q);
        vm.roll(q.deadlineBlock);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ProofPool.DeadlineNotReached.selector, q.deadlineBlock));
        pool.claimLiability(id);
        vm.roll(q.deadlineBlock + 1);
        bytes memory proof = proofOf(0, 0);
        vm.prank(service);
        vm.expectRevert(abi.encodeWithSelector(ProofPool.DeadlinePassed.selector, q.deadlineBlock));
        pool.proveTask(id, proof);
        vm.prank(service);
        vm.expectRevert(ProofPool.NotRequester.selector);
        pool.claimLiability(id);
        uint256 before = buyer.balance;
        vm.prank(buyer);
        pool.claimLiability(id);
        assertEq(buyer.balance - before, 2.2 ether, "liability and reward back");
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ProofPool.NotOpen.selector, ProofPool.Status.Claimed));
        pool.claimLiability(id);
    }

    function test_quote_guards() public {
        ProofPool.Quote memory q = quote(1);
        bytes memory sig = signed(q, SERVICE_KEY);
        vm.prank(miners[0]);
        vm.expectRevert(ProofPool.NotRequester.selector);
        pool.submitTask{value: q.reward}(q, sig);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ProofPool.WrongReward.selector, 0, q.reward));
        pool.submitTask(q, sig);
        bytes memory forged = signed(q, 0xBAD);
        vm.prank(buyer);
        vm.expectRevert(ProofPool.BadSignature.selector);
        pool.submitTask{value: q.reward}(q, forged);
        // A signature over the quote is not a signature over a changed quote.
        ProofPool.Quote memory cheaper = q;
        cheaper.liability = 0;
        vm.prank(buyer);
        vm.expectRevert(ProofPool.BadSignature.selector);
        pool.submitTask{value: q.reward}(cheaper, sig);
        vm.roll(q.expiryBlock + 1);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ProofPool.QuoteExpired.selector, q.expiryBlock));
        pool.submitTask{value: q.reward}(q, sig);
    }

    function test_a_quote_is_published_once_and_needs_the_liability_staked() public {
        ProofPool.Quote memory q = quote(1);
        bytes32 id = submit(q);
        bytes memory sig = signed(q, SERVICE_KEY);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ProofPool.TaskExists.selector, id));
        pool.submitTask{value: q.reward}(q, sig);
        ProofPool.Quote memory big = quote(2);
        big.liability = 4 ether; // 3 ether left after the first escrow
        bytes memory bigSig = signed(big, SERVICE_KEY);
        vm.prank(buyer);
        vm.expectRevert();
        pool.submitTask{value: big.reward}(big, bigSig);
    }

    function test_quote_is_bound_to_this_chain_and_contract() public {
        ProofPool.Quote memory q = quote(1);
        bytes memory sig = signed(q, SERVICE_KEY);
        ProofPool other = new ProofPool(stake);
        stake.setOperator(address(other), true);
        vm.prank(buyer);
        vm.expectRevert(ProofPool.BadSignature.selector);
        other.submitTask{value: q.reward}(q, sig);
    }
}
