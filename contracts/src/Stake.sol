// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {TransferFailed, sendValue} from "./SendValue.sol";

/// @title Stake
/// @notice Miners' and pool services' stake in native currency. Stake is what a commitment puts
/// at risk: the rollup manager slashes it and the proof pool escrows a service's liability from it.
/// @dev Withdrawal is two-step with a delay longer than any rollup's T1 + T2, and it is refused
/// while the owner has an open commitment (`locks`), so a miner cannot commit, withdraw, and
/// escape the slash for a proof it never revealed: pending slashes are settled first.
contract Stake {
    struct Account {
        /// Counts towards commitments (`stakeOf`).
        uint256 active;
        /// Asked to be withdrawn; still slashable until it leaves.
        uint256 pending;
        /// First block at which `pending` may be withdrawn.
        uint64 unlockBlock;
        /// Open commitments and escrows held by operators.
        uint32 locks;
    }

    address public immutable admin;
    /// Blocks between `requestWithdraw` and `withdraw`. Operators check it exceeds T1 + T2.
    uint64 public immutable withdrawDelay;
    /// Contracts allowed to lock, slash and seize (the rollup manager, the proof pool).
    mapping(address => bool) public isOperator;
    mapping(address => Account) public accounts;

    event Deposited(address indexed owner, uint256 amount);
    event WithdrawRequested(address indexed owner, uint256 amount, uint64 unlockBlock);
    event Withdrawn(address indexed owner, uint256 amount);
    event Slashed(address indexed owner, address indexed operator, uint256 amount);
    event Seized(address indexed owner, address indexed operator, uint256 amount);
    event OperatorSet(address indexed operator, bool allowed);

    error NotAdmin();
    error NotOperator();
    error ZeroAmount();
    error InsufficientStake(uint256 available, uint256 wanted);
    error NothingPending();
    error WithdrawLocked(uint64 unlockBlock);
    error UnsettledCommitments(uint32 open);

    constructor(uint64 withdrawDelay_) {
        admin = msg.sender;
        withdrawDelay = withdrawDelay_;
    }

    modifier onlyOperator() {
        if (!isOperator[msg.sender]) revert NotOperator();
        _;
    }

    function setOperator(address operator, bool allowed) external {
        if (msg.sender != admin) revert NotAdmin();
        isOperator[operator] = allowed;
        emit OperatorSet(operator, allowed);
    }

    function deposit() external payable {
        depositFor(msg.sender);
    }

    /// Adds to `owner`'s active stake (operators use it to hand back an escrow).
    function depositFor(address owner) public payable {
        if (msg.value == 0) revert ZeroAmount();
        accounts[owner].active += msg.value;
        emit Deposited(owner, msg.value);
    }

    /// Stake that counts for commitments and escrows.
    function stakeOf(address owner) external view returns (uint256) {
        return accounts[owner].active;
    }

    /// Moves `amount` out of the active stake; it can leave after `withdrawDelay` blocks. A new
    /// request adds to the pending amount and restarts the delay.
    function requestWithdraw(uint256 amount) external {
        Account storage a = accounts[msg.sender];
        if (amount == 0) revert ZeroAmount();
        if (amount > a.active) revert InsufficientStake(a.active, amount);
        a.active -= amount;
        a.pending += amount;
        a.unlockBlock = uint64(block.number) + withdrawDelay;
        emit WithdrawRequested(msg.sender, amount, a.unlockBlock);
    }

    function withdraw() external {
        Account storage a = accounts[msg.sender];
        uint256 amount = a.pending;
        if (amount == 0) revert NothingPending();
        if (block.number < a.unlockBlock) revert WithdrawLocked(a.unlockBlock);
        if (a.locks != 0) revert UnsettledCommitments(a.locks);
        a.pending = 0;
        emit Withdrawn(msg.sender, amount);
        sendValue(msg.sender, amount);
    }

    /// An operator opens a commitment or escrow of `owner`'s: withdrawals wait until it is settled.
    function lock(address owner) external onlyOperator {
        accounts[owner].locks += 1;
    }

    function unlock(address owner) external onlyOperator {
        accounts[owner].locks -= 1;
    }

    /// Takes up to `amount` (active stake first, then pending) and sends it to the operator.
    /// Never reverts for lack of stake: a slash must not undo the call that settles it.
    function slash(address owner, uint256 amount) external onlyOperator returns (uint256 taken) {
        Account storage a = accounts[owner];
        uint256 fromActive = amount < a.active ? amount : a.active;
        a.active -= fromActive;
        uint256 rest = amount - fromActive;
        uint256 fromPending = rest < a.pending ? rest : a.pending;
        a.pending -= fromPending;
        taken = fromActive + fromPending;
        emit Slashed(owner, msg.sender, taken);
        if (taken > 0) sendValue(msg.sender, taken);
    }

    /// Takes exactly `amount` of active stake into the operator's escrow, or reverts.
    function seize(address owner, uint256 amount) external onlyOperator {
        Account storage a = accounts[owner];
        if (amount > a.active) revert InsufficientStake(a.active, amount);
        a.active -= amount;
        emit Seized(owner, msg.sender, amount);
        if (amount > 0) sendValue(msg.sender, amount);
    }
}
