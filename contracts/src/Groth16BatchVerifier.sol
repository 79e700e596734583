// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IRollupVerifier, Statement} from "./IRollupVerifier.sol";

/// @title Groth16BatchVerifier
/// @notice Verifies the `transfer-groth16` adapter's final proofs (format "PVF1") under a
/// verifying key in its "PVK1" format, both defined in plugins/sdk/src/groth16/encoding.rs:
///
///   final proof   "PVF1" | prover(20) | n: u32 | n x (A: G1 | B: G2 | C: G1) | (n+1) x root | n x commitment
///   verifying key "PVK1" | alpha: G1 | beta, gamma, delta: G2 | 5: u32 | 5 x G1 (IC)
///
/// G1 = x | y, G2 = x.c1 | x.c0 | y.c1 | y.c0, 32 bytes big-endian each: the precompiles' layout.
/// Batch i has public inputs (root_i, root_{i+1}, commitment_i, prover). All n proofs are checked
/// with one product of n + 3 pairings, weighting proof i by r_0 = 1, r_i = keccak256(proof[4:] ||
/// u32 i) mod r (the same weights the adapter's native verifier uses):
///
///   prod_i e(r_i A_i, B_i) * e(-(sum r_i) alpha, beta) * e(-sum r_i L_i, gamma) * e(-sum r_i C_i, delta) == 1
///
/// where sum r_i L_i = (sum r_i) IC_0 + sum_j (sum_i r_i x_ij) IC_j costs 5 scalar multiplications
/// whatever n is. The statement binds the proof to the chain: the first root must be the old state
/// root, the last the new one, the commitments must rebuild the accumulated input hash recorded
/// by `sequenceBatches`, and the prover must be the caller.
contract Groth16BatchVerifier is IRollupVerifier {
    /// BN254 base field modulus.
    uint256 internal constant P = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47;
    /// BN254 scalar field modulus: public inputs must be below it (no aliasing mod r).
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    /// Public inputs per batch proof, and IC points (one more).
    uint256 internal constant INPUTS = 4;
    uint256 internal constant VK_LENGTH = 4 + 64 + 3 * 128 + 4 + (INPUTS + 1) * 64;
    uint256 internal constant IC_OFFSET = 4 + 64 + 3 * 128 + 4;
    /// Bytes before the first batch proof: magic, prover, n.
    uint256 internal constant HEADER = 28;
    uint256 internal constant PROOF_BYTES = 256;
    /// Same bound as the adapter and the manager: the gas of n + 3 pairings must stay payable.
    uint256 internal constant MAX_BATCHES = 64;

    /// Running sums over the batch proofs.
    struct Acc {
        uint256 sumR;
        uint256[INPUTS] inputSums;
        uint256[2] c;
        bool ok;
    }

    function checkVerifyingKey(bytes calldata vk) external view returns (bool) {
        if (vk.length != VK_LENGTH || bytes4(vk[0:4]) != "PVK1") return false;
        if (uint32(bytes4(vk[IC_OFFSET - 4:IC_OFFSET])) != INPUTS + 1) return false;
        // G1 points: adding each to itself makes the precompile check it is on the curve.
        bool ok = _isG1(vk[4:68]);
        for (uint256 i = 0; i <= INPUTS; i++) {
            ok = ok && _isG1(vk[IC_OFFSET + 64 * i:IC_OFFSET + 64 * (i + 1)]);
        }
        // G2 points: a pairing with the G1 identity checks curve and subgroup membership.
        bytes memory input = new bytes(3 * 192);
        for (uint256 i = 0; i < 3; i++) {
            _copyG2(input, 192 * i + 64, vk[68 + 128 * i:68 + 128 * (i + 1)]);
        }
        return ok && _pairing(input);
    }

    /// Public and virtual so that a rollup's own verifier can add a policy in front of it (see
    /// `TallyVerifier`).
    function verifyProof(bytes calldata vk, bytes calldata proof, Statement calldata st) public view virtual returns (bool) {
        uint256 n = st.numBatches;
        if (n == 0 || n > MAX_BATCHES || vk.length != VK_LENGTH) return false;
        if (proof.length != HEADER + n * PROOF_BYTES + (2 * n + 1) * 32) return false;
        if (bytes4(proof[0:4]) != "PVF1" || address(bytes20(proof[4:24])) != st.prover) return false;
        if (uint32(bytes4(proof[24:28])) != n) return false;
        if (!_statementHolds(proof, st, n)) return false;

        bytes memory pairs = new bytes((n + 3) * 192);
        Acc memory acc = _accumulate(proof, n, pairs);
        if (!acc.ok) return false;
        return _finish(vk, acc, pairs, n);
    }

    /// Roots, commitments and prover against the chain's record; every input canonical.
    function _statementHolds(bytes calldata proof, Statement calldata st, uint256 n) private pure returns (bool) {
        if (_root(proof, n, 0) != st.oldStateRoot || _root(proof, n, n) != st.newStateRoot) return false;
        bytes32 acc = st.oldAccInputHash;
        for (uint256 i = 0; i < n; i++) {
            bytes32 c = _commitment(proof, n, i);
            if (uint256(c) >= R) return false;
            acc = keccak256(abi.encodePacked(acc, c));
        }
        for (uint256 i = 0; i <= n; i++) {
            if (uint256(_root(proof, n, i)) >= R) return false;
        }
        return acc == st.newAccInputHash;
    }

    /// Weights each proof, writes (r_i A_i, B_i) into `pairs`, sums r_i, r_i x_ij and r_i C_i.
    function _accumulate(bytes calldata proof, uint256 n, bytes memory pairs) private view returns (Acc memory acc) {
        acc.ok = true;
        // The transcript with room for the index: copied once, hashed once per proof.
        bytes memory transcript = abi.encodePacked(proof[4:], uint32(0));
        for (uint256 i = 0; i < n; i++) {
            uint256 r = i == 0 ? 1 : _weight(transcript, i);
            acc.sumR = addmod(acc.sumR, r, R);
            _addInputs(proof, n, i, r, acc);
            _addProof(proof, i, r, acc, pairs);
        }
    }

    /// inputSums[j] += r * x_ij for batch i's public inputs (root_i, root_i+1, commitment_i, prover).
    function _addInputs(bytes calldata proof, uint256 n, uint256 i, uint256 r, Acc memory acc) private pure {
        uint256[INPUTS] memory x = [
            uint256(_root(proof, n, i)),
            uint256(_root(proof, n, i + 1)),
            uint256(_commitment(proof, n, i)),
            uint256(uint160(bytes20(proof[4:24])))
        ];
        for (uint256 j = 0; j < INPUTS; j++) {
            acc.inputSums[j] = addmod(acc.inputSums[j], mulmod(r, x[j], R), R);
        }
    }

    /// Writes (r A_i, B_i) as pairing pair i and adds r C_i to the running sum.
    function _addProof(bytes calldata proof, uint256 i, uint256 r, Acc memory acc, bytes memory pairs) private view {
        uint256 off = HEADER + i * PROOF_BYTES;
        (bool okA, uint256[2] memory a) = _mul(_g1(proof[off:off + 64]), r);
        (bool okC, uint256[2] memory c) = _mul(_g1(proof[off + 192:off + 256]), r);
        bool okSum;
        (okSum, acc.c) = _add(acc.c, c);
        acc.ok = acc.ok && okA && okC && okSum;
        _put(pairs, 192 * i, a);
        _copyG2(pairs, 192 * i + 64, proof[off + 64:off + 192]);
    }

    /// Adds the three key terms and runs the pairing check.
    function _finish(bytes calldata vk, Acc memory acc, bytes memory pairs, uint256 n) private view returns (bool) {
        (bool ok, uint256[2] memory l) = _mul(_g1(vk[IC_OFFSET:IC_OFFSET + 64]), acc.sumR);
        for (uint256 j = 0; j < INPUTS; j++) {
            uint256 off = IC_OFFSET + 64 * (j + 1);
            (bool okMul, uint256[2] memory term) = _mul(_g1(vk[off:off + 64]), acc.inputSums[j]);
            bool okAdd;
            (okAdd, l) = _add(l, term);
            ok = ok && okMul && okAdd;
        }
        (bool okAlpha, uint256[2] memory alpha) = _mul(_g1(vk[4:68]), R - acc.sumR);
        if (!(ok && okAlpha)) return false;
        uint256[2][3] memory g1 = [alpha, _neg(l), _neg(acc.c)];
        for (uint256 t = 0; t < 3; t++) {
            uint256 off = 192 * (n + t);
            _put(pairs, off, g1[t]);
            _copyG2(pairs, off + 64, vk[68 + 128 * t:68 + 128 * (t + 1)]);
        }
        return _pairing(pairs);
    }

    /// Root j (0..=n) of an n-batch final proof.
    function _root(bytes calldata proof, uint256 n, uint256 j) private pure returns (bytes32) {
        uint256 off = HEADER + n * PROOF_BYTES + 32 * j;
        return bytes32(proof[off:off + 32]);
    }

    /// Commitment i (0..n) of an n-batch final proof: after the n + 1 roots.
    function _commitment(bytes calldata proof, uint256 n, uint256 i) private pure returns (bytes32) {
        return _root(proof, n, n + 1 + i);
    }

    function _weight(bytes memory transcript, uint256 i) private pure returns (uint256) {
        // The index goes big-endian into the last 4 bytes (i < MAX_BATCHES: no truncation).
        assembly {
            let p := add(add(transcript, 32), sub(mload(transcript), 4))
            mstore(p, or(shl(224, i), and(mload(p), not(shl(224, 0xffffffff)))))
        }
        return uint256(keccak256(transcript)) % R;
    }

    function _g1(bytes calldata b) private pure returns (uint256[2] memory p) {
        p[0] = uint256(bytes32(b[0:32]));
        p[1] = uint256(bytes32(b[32:64]));
    }

    function _neg(uint256[2] memory p) private pure returns (uint256[2] memory) {
        return [p[0], p[1] == 0 ? 0 : P - (p[1] % P)];
    }

    function _put(bytes memory out, uint256 off, uint256[2] memory p) private pure {
        assembly {
            let dst := add(add(out, 32), off)
            mstore(dst, mload(p))
            mstore(add(dst, 32), mload(add(p, 32)))
        }
    }

    /// Copies a 128-byte G2 point from calldata into `out` at byte `off` (the caller sized `out`).
    function _copyG2(bytes memory out, uint256 off, bytes calldata g2) private pure {
        assembly {
            calldatacopy(add(add(out, 32), off), g2.offset, 128)
        }
    }

    function _isG1(bytes calldata b) private view returns (bool ok) {
        (ok,) = _add(_g1(b), _g1(b));
    }

    function _add(uint256[2] memory a, uint256[2] memory b) private view returns (bool ok, uint256[2] memory c) {
        uint256[4] memory input = [a[0], a[1], b[0], b[1]];
        assembly {
            ok := staticcall(gas(), 0x06, input, 128, c, 64)
        }
    }

    function _mul(uint256[2] memory a, uint256 s) private view returns (bool ok, uint256[2] memory c) {
        if (s == 1) {
            // Still validate the point: an off-curve A_0 or C_0 must fail like any other.
            (ok,) = _add(a, [uint256(0), uint256(0)]);
            return (ok, a);
        }
        uint256[3] memory input = [a[0], a[1], s];
        assembly {
            ok := staticcall(gas(), 0x07, input, 96, c, 64)
        }
    }

    function _pairing(bytes memory input) private view returns (bool) {
        uint256[1] memory out;
        bool ok;
        assembly {
            ok := staticcall(gas(), 0x08, add(input, 32), mload(input), out, 32)
        }
        return ok && out[0] == 1;
    }
}
