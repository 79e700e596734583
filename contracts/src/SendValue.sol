// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// A native-currency payment failed (the recipient reverted), or arrived from where none may.
error TransferFailed();

/// Pays `amount` to `to`, forwarding all gas (recipients may be contracts), or reverts.
function sendValue(address to, uint256 amount) {
    (bool ok,) = to.call{value: amount}("");
    if (!ok) revert TransferFailed();
}
