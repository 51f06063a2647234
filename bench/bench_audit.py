"""Audit-log benchmark: checking a log of 1,000,000 entries against a year of nightly signed tree heads.

The log is 1,000,000 entries of canonical JSON (about 200-400 bytes each: partition reads, pseudonymization,
purpose checks, linkage runs, releases, deletions) written as JSON lines, spread over 365 nights of varying size.
At the end of each night the log's root (:class:`privacy.audit.merkle.Frontier`) is signed into a tree head
(:func:`privacy.audit.heads.sign_tree_head`), kept as JSON lines.

The timed check is what an auditor does with the stored log, the heads and the public key: read both files,
recompute every leaf hash, grow the tree in one pass and compare its root with each head's when it reaches the
head's size, check each head's Ed25519 signature, and check that sizes and timestamps never go back. Because every
head's root is recomputed from the same entries, each later head is consistent with each earlier one. Target:
under 30 s. The baseline, run in the same process on the same bytes, is plain SHA-256 of every entry.

Also timed: one inclusion proof and one consistency proof (first head to last) generated from the full log's leaf
hashes and verified with nothing but the proof, and a second check of the log with one byte of one entry changed.

    python bench/bench_audit.py [--entries 1000000] [--nights 365]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from privacy.audit.heads import TreeHead, load_public_key, public_key_pem, sign_tree_head, verify_tree_head
from privacy.audit.merkle import (
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
DAY_MS = 86_400_000
SOURCES = ("border", "visa", "permit")
PURPOSES = ("migration_flows", "residence_permits", "linkage_quality")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_entry(rng: random.Random, seq: int, night: int) -> bytes:
    """One canonical-JSON log entry (sorted keys, no spaces) of a kind the nightly run records."""
    date = f"2025-{1 + night * 12 // 366:02d}-{1 + night % 28:02d}"
    base: dict[str, object] = {
        "v": 1,
        "seq": seq,
        "run": f"night-{night:03d}",
        "at_ms": START_MS + night * DAY_MS + rng.randrange(DAY_MS // 4),
        "actor": f"dag:migralink_nightly/{rng.choice(['ingest', 'link', 'publish', 'retain'])}",
        "code": "migralink 0.1.0",
    }
    kind = rng.choices(
        ["partition_read", "pseudonymize", "purpose_check", "linkage", "release", "delete"],
        weights=[40, 30, 15, 8, 4, 3],
    )[0]
    source = rng.choice(SOURCES)
    if kind == "partition_read":
        detail: dict[str, object] = {
            "source": source,
            "date": date,
            "file": f"landing/{source}/{date}/part-{rng.randrange(64):04d}.csv",
            "sha256": rng.randbytes(32).hex(),
            "rows": rng.randrange(1, 200_000),
            "quarantined": rng.randrange(0, 50),
            "contract": f"{source}/v{rng.randrange(1, 4)}",
        }
    elif kind == "pseudonymize":
        detail = {
            "source": source,
            "date": date,
            "rows": rng.randrange(1, 200_000),
            "key_version": rng.randrange(1, 4),
            "tokens": ["family_name", "given_names", "dob", "doc", "slk581", "clk_name"],
            "dropped_fields": ["address", "phone"],
        }
    elif kind == "purpose_check":
        detail = {
            "purpose": rng.choice(PURPOSES),
            "table": f"stats_{rng.choice(SOURCES)}_{rng.randrange(1, 20)}",
            "decision": rng.choice(["allowed", "allowed", "allowed", "refused"]),
            "finest_detail": "month x age5 x sex x citizenship",
        }
    elif kind == "linkage":
        detail = {
            "model": f"fs-{rng.randrange(1, 9)}",
            "pairs_scored": rng.randrange(10**5, 10**7),
            "links": rng.randrange(10**4, 10**6),
            "threshold": round(rng.uniform(0.8, 0.99), 3),
            "clusters": rng.randrange(10**4, 10**6),
        }
    elif kind == "release":
        detail = {
            "purpose": rng.choice(PURPOSES),
            "release": f"R{night:03d}-{rng.randrange(100):02d}",
            "cells": rng.randrange(100, 50_000),
            "suppressed": rng.randrange(0, 500),
            "method": rng.choice(["cell_key", "rounding_base3", "dp_laplace"]),
            "sha256": rng.randbytes(32).hex(),
        }
    else:
        detail = {
            "what": rng.choice(["landing", "linkage_file", "identity_tokens"]),
            "source": source,
            "before": date,
            "rows": rng.randrange(1, 10**6),
            "retention": "P24M",
        }
    return json.dumps(base | {"kind": kind} | detail, sort_keys=True, separators=(",", ":")).encode()


def night_sizes(entries: int, nights: int, rng: random.Random) -> list[int]:
    """Cumulative log size at the end of each night: nights of uneven size (weekends are quieter)."""
    weights = [rng.uniform(0.5, 1.5) * (0.4 if night % 7 in (5, 6) else 1.0) for night in range(nights)]
    total, cumulative, ends = sum(weights), 0.0, []
    for w in weights:
        cumulative += w
        ends.append(round(entries * cumulative / total))
    ends[-1] = entries
    return ends


def write_log(work: Path, entries: int, nights: int, key: Ed25519PrivateKey) -> tuple[Path, Path, float]:
    """Write the log and its signed heads as the nightly runs would; return the paths and the appending time."""
    rng = random.Random(2026)
    ends = night_sizes(entries, nights, rng)
    log_path, heads_path = work / "audit_log.jsonl", work / "tree_heads.jsonl"
    frontier, seq, append_seconds = Frontier(), 0, 0.0
    with log_path.open("wb") as log, heads_path.open("w", encoding="utf-8") as heads:
        for night, end in enumerate(ends):
            batch = [make_entry(rng, seq + i, night) for i in range(end - seq)]
            seq = end
            log.write(b"".join(e + b"\n" for e in batch))
            t0 = time.perf_counter()
            frontier.extend(leaf_hashes(batch))
            head = sign_tree_head(key, frontier.size, START_MS + night * DAY_MS + 6 * 3_600_000, frontier.root())
            append_seconds += time.perf_counter() - t0
            heads.write(head.to_json() + "\n")
    return log_path, heads_path, append_seconds


def read_entries(log_path: Path) -> list[bytes]:
    """The log's entries, one per line."""
    data = log_path.read_bytes()
    return data.split(b"\n")[:-1] if data else []


def check_log(entries: Sequence[bytes], heads: Sequence[TreeHead], public: Ed25519PublicKey) -> list[str]:
    """Recompute the tree from the entries and check every head; return the problems found (empty if none)."""
    problems: list[str] = []
    hashes = leaf_hashes(entries)
    frontier, previous = Frontier(), None
    for n, head in enumerate(heads):
        if not verify_tree_head(public, head):
            problems.append(f"head {n}: bad signature")
        if previous is not None and (head.tree_size < previous.tree_size or head.timestamp_ms <= previous.timestamp_ms):
            problems.append(f"head {n}: size or timestamp goes back")
        if head.tree_size > len(hashes):
            problems.append(f"head {n}: the log holds fewer entries than the head's size")
            break
        if head.tree_size >= frontier.size:
            frontier.extend(hashes[frontier.size : head.tree_size])
            if not hmac.compare_digest(frontier.root(), head.root_hash):
                problems.append(f"head {n}: root does not match the entries")
        previous = head
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--nights", type=int, default=365)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="migralink-bench-audit-"))
    try:
        key = Ed25519PrivateKey.generate()
        t0 = time.perf_counter()
        log_path, heads_path, append_seconds = write_log(work, args.entries, args.nights, key)
        written = time.perf_counter() - t0
        public_pem = public_key_pem(key)
        del key

        # The auditor's check: files and the public key only.
        t0 = time.perf_counter()
        public = load_public_key(public_pem)
        entries = read_entries(log_path)
        heads = [TreeHead.from_json(line) for line in heads_path.read_text(encoding="utf-8").splitlines()]
        t_read = time.perf_counter()
        problems = check_log(entries, heads, public)
        check = time.perf_counter() - t0
        read = t_read - t0
        assert not problems, problems
        sizes = [len(e) for e in entries]

        t0 = time.perf_counter()
        for entry in entries:
            hashlib.sha256(entry).digest()
        baseline = time.perf_counter() - t0

        # Proofs an auditor can check without the log.
        hashes = leaf_hashes(entries)
        last, first = heads[-1], heads[0]
        index = len(entries) * 2 // 3
        t0 = time.perf_counter()
        path = inclusion_proof(hashes, index, last.tree_size)
        proof = consistency_proof(hashes, first.tree_size, last.tree_size)
        prove = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert verify_inclusion(hashes[index], index, last.tree_size, path, last.root_hash)
        assert verify_consistency(first.tree_size, last.tree_size, first.root_hash, last.root_hash, proof)
        verify_proofs = time.perf_counter() - t0
        del hashes

        # One byte of one entry changed: the first head covering it, and every later one, must fail.
        victim = len(entries) // 2
        entries[victim] = entries[victim].replace(b'"v":1', b'"v":2', 1)
        t0 = time.perf_counter()
        tampered = check_log(entries, heads, public)
        tamper_seconds = time.perf_counter() - t0
        first_bad = next(n for n, h in enumerate(heads) if h.tree_size > victim)
        assert tampered and tampered[0] == f"head {first_bad}: root does not match the entries", tampered[:1]
        assert len(tampered) == len(heads) - first_bad

        n, total_bytes = len(entries), sum(sizes)
        print(
            f"entries              {n:>12,}  ({total_bytes / 2**20:,.0f} MiB; {min(sizes)}-{max(sizes)} bytes, "
            f"mean {total_bytes / n:,.0f})"
        )
        nightly = [heads[0].tree_size] + [b.tree_size - a.tree_size for a, b in itertools.pairwise(heads)]
        print(f"signed tree heads    {len(heads):>12,}  (nights of {min(nightly):,} to {max(nightly):,} entries)")
        print(
            f"write log + heads    {written:>12.2f} s  (entry generation included; appending and signing "
            f"{append_seconds:.2f} s)"
        )
        print(
            f"check log            {check:>12.2f} s  {n / check:>12,.0f} entries/s  (target < 30 s; reading "
            f"files {read:.2f} s)"
        )
        print(
            f"baseline (sha256)    {baseline:>12.2f} s  {n / baseline:>12,.0f} entries/s  (plain SHA-256 of each "
            "entry, same bytes)"
        )
        print(f"ratio                {check / baseline:>12.1f} x the baseline's wall time")
        print(
            f"prove                {prove:>12.2f} s  (inclusion of entry {index:,} in head {len(heads) - 1}: "
            f"{len(path)} hashes; consistency {first.tree_size:,} -> {last.tree_size:,}: {len(proof)} hashes)"
        )
        print(f"verify proofs        {verify_proofs * 1000:>12.2f} ms")
        print(
            f"tampered entry       {victim:>12,}  detected at head {first_bad} and the {len(tampered) - 1} after "
            f"it ({tamper_seconds:.2f} s)"
        )
        del entries
        warehouse_verify, appended = in_the_warehouse(work, log_path, heads, public_pem)
        print(
            f"warehouse verify     {warehouse_verify:>12.2f} s  {n / warehouse_verify:>12,.0f} entries/s  "
            "(privacy.audit.log.verify on the same log stored in DuckDB; target < 30 s)"
        )
        print(
            f"a night's appends    {appended * 1000:>12.1f} ms  (40 entries and a signed head on top of the "
            f"{n:,}-entry log: {appended / 25.8:.4%} of a 25.8 s night of 5,000 generated persons)"
        )
        print(f"peak memory          {_peak_mb():>12,.0f} MB (whole process, log generation included)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def in_the_warehouse(work: Path, log_path: Path, heads: Sequence[TreeHead], public_pem: bytes) -> tuple[float, float]:
    """Store the log in a DuckDB warehouse's audit tables and time :func:`privacy.audit.log.verify` over it, then
    one night's appends (40 entries in a transaction) and the seal that signs them."""
    import duckdb
    import pyarrow as pa

    from privacy.audit.log import AUDIT, append, seal, verify
    from privacy.audit.merkle import Frontier
    from privacy.schema import apply_migrations

    con = duckdb.connect(str(work / "audit.duckdb"))
    apply_migrations(con, [AUDIT])
    entries = read_entries(log_path)
    hashes = leaf_hashes(entries)
    con.register(
        "stored",
        pa.table({"leaf_index": pa.array(range(len(entries)), pa.int64()), "entry": entries, "leaf_hash": hashes}),
    )
    con.execute("INSERT INTO audit_log SELECT leaf_index, entry, leaf_hash, now() FROM stored")
    con.unregister("stored")
    con.executemany(
        "INSERT INTO audit_heads VALUES (?, ?, ?, ?, ?)",
        [[h.tree_size, h.timestamp_ms, h.root_hash, h.signature, h.key_id] for h in heads],
    )
    con.execute("INSERT INTO audit_state VALUES (?, ?)", [len(hashes), Frontier.from_leaf_hashes(hashes).to_json()])
    del entries, hashes
    public = load_public_key(public_pem)
    t0 = time.perf_counter()
    result = verify(con, public)
    seconds = time.perf_counter() - t0
    assert result.ok, result.summary
    key = Ed25519PrivateKey.generate()  # the heads so far are another key's; this only times the signing
    t0 = time.perf_counter()
    con.execute("BEGIN")
    for i in range(40):
        append(
            con,
            "partitions_read",
            source="border",
            partitions=1,
            rows=1000 + i,
            files=1,
            first="2024-01-01",
            last="2024-01-01",
        )
    seal(con, key)
    con.execute("COMMIT")
    appended = time.perf_counter() - t0
    con.close()
    return seconds, appended


if __name__ == "__main__":
    main()
