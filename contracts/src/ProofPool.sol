// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {TransferFailed, sendValue} from "./SendValue.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Stake} from "./Stake.sol";

/// @notice Implemented by a requester (any ZK project) that buys proofs from the pool.
interface IProofRequester {
    /// @return true iff `proof` is a valid proof of the task the requester published as `taskDigest`.
    function verifyTaskProof(bytes32 taskDigest, bytes calldata proof) external view returns (bool);
}

/// @title ProofPool
/// @notice Requester-prover separation (the ZKPool model): a pool service quotes a task with an
/// EIP-712 signature; the requester publishes it with the reward; the service's liability moves
/// from its stake into escrow; the service proves before the deadline and is paid, or the
/// requester claims the liability after it. Each task pays out exactly once.
contract ProofPool is EIP712 {
    struct Quote {
        /// Signs the quote and answers for the task with its stake.
        address service;
        /// The only address that may publish the quote (and claim its liability).
        address requester;
        /// The contract whose `verifyTaskProof` judges the proof.
        IProofRequester verifier;
        bytes32 taskDigest;
        uint256 reward;
        uint256 liability;
        /// Last block at which a proof is accepted.
        uint64 deadlineBlock;
        /// Last block at which the quote may be published.
        uint64 expiryBlock;
        /// Distinguishes otherwise equal quotes (the task id is the quote's hash).
        uint256 salt;
    }

    enum Status {
        None,
        Open,
        Proved,
        Claimed
    }

    struct Task {
        Quote quote;
        Status status;
    }

    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(address service,address requester,address verifier,bytes32 taskDigest,uint256 reward,uint256 liability,uint64 deadlineBlock,uint64 expiryBlock,uint256 salt)"
    );

    Stake public immutable stake;
    mapping(bytes32 => Task) internal tasks;
    /// Rewards earned by services and not yet withdrawn.
    mapping(address => uint256) public balances;

    event TaskSubmitted(
        bytes32 indexed taskId,
        address indexed requester,
        address indexed service,
        bytes32 taskDigest,
        uint256 reward,
        uint256 liability,
        uint64 deadlineBlock
    );
    event TaskProved(bytes32 indexed taskId, address indexed service, uint256 reward);
    event LiabilityClaimed(bytes32 indexed taskId, address indexed requester, uint256 amount);
    event Withdrawn(address indexed service, uint256 amount);

    error NotRequester();
    error NotService();
    error WrongReward(uint256 sent, uint256 quoted);
    error QuoteExpired(uint64 expiryBlock);
    error DeadlinePassed(uint64 deadlineBlock);
    error BadSignature();
    error TaskExists(bytes32 taskId);
    error NotOpen(Status status);
    error InvalidProof();
    error DeadlineNotReached(uint64 deadlineBlock);
    error NothingToWithdraw();

    constructor(Stake stake_) EIP712("prova ProofPool", "1") {
        stake = stake_;
    }

    /// Escrowed liability comes back from the stake contract only.
    receive() external payable {
        if (msg.sender != address(stake)) revert TransferFailed();
    }

    /// The EIP-712 digest the service signs (domain: this chain and this contract).
    function quoteDigest(Quote calldata q) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(QUOTE_TYPEHASH, q)));
    }

    function taskIdOf(Quote calldata q) public pure returns (bytes32) {
        return keccak256(abi.encode(q));
    }

    function submitTask(Quote calldata q, bytes calldata signature) external payable returns (bytes32 taskId) {
        if (msg.sender != q.requester) revert NotRequester();
        if (msg.value != q.reward) revert WrongReward(msg.value, q.reward);
        if (block.number > q.expiryBlock) revert QuoteExpired(q.expiryBlock);
        if (block.number >= q.deadlineBlock) revert DeadlinePassed(q.deadlineBlock);
        (address signer, ECDSA.RecoverError e,) = ECDSA.tryRecover(quoteDigest(q), signature);
        if (e != ECDSA.RecoverError.NoError || signer != q.service) revert BadSignature();
        taskId = taskIdOf(q);
        if (tasks[taskId].status != Status.None) revert TaskExists(taskId);
        tasks[taskId] = Task(q, Status.Open);
        emit TaskSubmitted(taskId, q.requester, q.service, q.taskDigest, q.reward, q.liability, q.deadlineBlock);
        // Reverts unless the service has the liability staked; the stake cannot leave meanwhile.
        stake.seize(q.service, q.liability);
    }

    /// The service proves a task by its deadline: paid once, liability back into its stake.
    function proveTask(bytes32 taskId, bytes calldata proof) external {
        Task storage t = tasks[taskId];
        if (t.status != Status.Open) revert NotOpen(t.status);
        if (msg.sender != t.quote.service) revert NotService();
        if (block.number > t.quote.deadlineBlock) revert DeadlinePassed(t.quote.deadlineBlock);
        if (!_verified(t.quote, proof)) revert InvalidProof();
        t.status = Status.Proved;
        balances[t.quote.service] += t.quote.reward;
        emit TaskProved(taskId, t.quote.service, t.quote.reward);
        if (t.quote.liability > 0) stake.depositFor{value: t.quote.liability}(t.quote.service);
    }

    /// After the deadline of an unproved task, its requester takes the liability and the reward
    /// back, once.
    function claimLiability(bytes32 taskId) external {
        Task storage t = tasks[taskId];
        if (t.status != Status.Open) revert NotOpen(t.status);
        if (msg.sender != t.quote.requester) revert NotRequester();
        if (block.number <= t.quote.deadlineBlock) revert DeadlineNotReached(t.quote.deadlineBlock);
        t.status = Status.Claimed;
        uint256 amount = t.quote.liability + t.quote.reward;
        emit LiabilityClaimed(taskId, msg.sender, amount);
        sendValue(msg.sender, amount);
    }

    function withdraw() external {
        uint256 amount = balances[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        balances[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        sendValue(msg.sender, amount);
    }

    function taskOf(bytes32 taskId) external view returns (Task memory) {
        return tasks[taskId];
    }

    /// The requester's verdict; a reverting or misbehaving verifier counts as "not proved".
    function _verified(Quote storage q, bytes calldata proof) private view returns (bool) {
        try q.verifier.verifyTaskProof(q.taskDigest, proof) returns (bool ok) {
            return ok;
        } catch {
            return false;
        }
    }
}
