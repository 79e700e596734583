#!/usr/bin/env python3
"""Copies ABI and bytecode of the deployed contracts from forge's out/ into
host/chain/artifacts/ (what the Rust bindings read), and the creation bytecode of the verifier
contracts plugins carry into the plugin crates (PLUGIN_VERIFIERS), or with --check fails if any
differ.

usage: contracts/artifacts.py [--check]     (after `forge build` in contracts/)
"""
import json, os, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONTRACTS = ["Stake", "RollupManager", "Groth16BatchVerifier", "ProofPool", "ExampleRequester", "SimVerifier"]
# contract -> the file its plugin includes (raw creation bytecode; the plugin names it as its verifier)
PLUGIN_VERIFIERS = {"TallyVerifier": "plugins/tally-groth16/TallyVerifier.bin"}


def artifact(name):
    with open(os.path.join(ROOT, "contracts/out", f"{name}.sol", f"{name}.json")) as f:
        a = json.load(f)
    return {"abi": a["abi"], "bytecode": {"object": a["bytecode"]["object"]}}


def sync(path, fresh, check, drift, name):
    """Writes `fresh` (bytes) to `path` if it differs; with --check, records the drift instead."""
    old = open(path, "rb").read() if os.path.exists(path) else None
    if old == fresh:
        return
    if check:
        drift.append(name)
    else:
        with open(path, "wb") as f:
            f.write(fresh)
        print(f"updated {path}")


def main():
    check = "--check" in sys.argv
    drift = []
    for name in CONTRACTS:
        fresh = (json.dumps(artifact(name), indent=1, sort_keys=True) + "\n").encode()
        sync(os.path.join(ROOT, "host/chain/artifacts", f"{name}.json"), fresh, check, drift, name)
    for name, rel in PLUGIN_VERIFIERS.items():
        fresh = bytes.fromhex(artifact(name)["bytecode"]["object"].removeprefix("0x"))
        sync(os.path.join(ROOT, rel), fresh, check, drift, name)
    if drift:
        sys.exit("artifact drift: " + ", ".join(drift) + " differ from a fresh forge build; run contracts/artifacts.py and commit")


if __name__ == "__main__":
    main()
