// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Groth16BatchVerifier} from "./Groth16BatchVerifier.sol";

/// @title TallyVerifier
/// @notice The `tally-groth16` plugin's own verifier: the plugin carries this contract's creation
/// bytecode (`plugins/tally-groth16/TallyVerifier.bin`, written by `contracts/artifacts.py`) and
/// names it in its metadata, so every chain the rollup is registered on gets a deployment of its
/// own, pinned to this code. Its proofs are the SDK Groth16 kit's, so the check (and with it every
/// obligation of `templates/VerifierTemplate.sol`) is the standard verifier's; a rollup with
/// another proof system fills in the template instead.
contract TallyVerifier is Groth16BatchVerifier {}
