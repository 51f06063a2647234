"""RFC 6962 Merkle trees: reference roots and proofs, the RFC's worked example, tampering, Frontier.

Reference data: the 8-leaf tree used by Certificate Transparency implementations. The leaf inputs, leaf hashes
and roots are copied from transparency-dev/merkle ``testonly/constants.go``; the inclusion and consistency proofs
from its ``cmd/proofgen/main.go`` (the vectors of CT's original ``merkle_tree_test``; leaf numbers there count
from 1, here indexes count from 0). The roots' first bytes are also checked against docs/STACK_NOTES.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.audit.merkle import (
    EMPTY_ROOT,
    AuditError,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    leaf_hashes,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from privacy.errors import PrivacyError

LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
ROOTS = {  # tree size -> root hash
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
STACK_NOTES_PREFIXES = ["6e340b9c", "fac54203", "aeb6bcfe", "d37ee418", "4e3bbb1f", "76e67dad", "ddb89be4", "5dc9da79"]

# (index, tree size, audit path)
PUBLISHED_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (first size, second size, consistency proof)
PUBLISHED_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

HASHES = leaf_hashes(LEAVES)


# --- A second implementation, written straight from the text of RFC 6962 §2.1, on entries. ---


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n])."""
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = _k(n)
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.1."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.2."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of §2.1.2."""
    return ref_subproof(m, d, True)


def _flip(value: bytes, position: int = 0, mask: int = 1) -> bytes:
    return value[:position] + bytes([value[position] ^ mask]) + value[position + 1 :]


def _hx(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# --- Reference roots ---


def test_empty_tree_is_the_hash_of_the_empty_string() -> None:
    assert root([]) == EMPTY_ROOT == bytes.fromhex(ROOTS[0])
    assert Frontier().root() == EMPTY_ROOT


def test_leaf_hashes_of_the_reference_leaves() -> None:
    assert [h.hex() for h in HASHES] == LEAF_HASHES
    assert [leaf_hash(e) for e in LEAVES] == HASHES


@pytest.mark.parametrize("size", range(1, 9), ids=lambda n: f"{n} leaves")
def test_roots_of_the_reference_tree(size: int) -> None:
    expected = bytes.fromhex(ROOTS[size])
    assert ROOTS[size].startswith(STACK_NOTES_PREFIXES[size - 1])
    assert root(HASHES[:size]) == expected
    assert ref_mth(LEAVES[:size]) == expected
    assert Frontier.from_leaf_hashes(HASHES[:size]).root() == expected


# --- Published proofs ---


@pytest.mark.parametrize(("index", "size", "path"), PUBLISHED_INCLUSION, ids=lambda v: str(v)[:12])
def test_published_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    assert inclusion_proof(HASHES, index, size) == _hx(path)
    assert verify_inclusion(HASHES[index], index, size, _hx(path), bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("m", "n", "path"), PUBLISHED_CONSISTENCY, ids=lambda v: str(v)[:12])
def test_published_consistency_proofs(m: int, n: int, path: list[str]) -> None:
    assert consistency_proof(HASHES, m, n) == _hx(path)
    assert verify_consistency(m, n, bytes.fromhex(ROOTS[m]), bytes.fromhex(ROOTS[n]), _hx(path))


# --- RFC 6962 §2.1.3: the 7-leaf example, nodes named a..l ---


def _rfc_named_nodes() -> dict[str, bytes]:
    a, b, c, d, e, f, j = (_h(b"\x00" + x) for x in LEAVES[:7])
    g, h, i = _h(b"\x01" + a + b), _h(b"\x01" + c + d), _h(b"\x01" + e + f)
    k, l = _h(b"\x01" + g + h), _h(b"\x01" + i + j)  # noqa: E741 (the RFC's name)
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g, "h": h, "i": i, "j": j, "k": k, "l": l}


def test_rfc_named_nodes_are_the_published_hashes() -> None:
    nodes = _rfc_named_nodes()
    assert nodes["g"].hex() == ROOTS[2]
    assert nodes["k"].hex() == ROOTS[4]
    assert nodes["j"].hex() == LEAF_HASHES[6]
    assert _h(b"\x01" + nodes["k"] + nodes["l"]).hex() == ROOTS[7]
    assert _h(b"\x01" + nodes["g"] + nodes["c"]).hex() == ROOTS[3]  # hash0 of the figure


@pytest.mark.parametrize(
    ("index", "names"),
    [(0, "bhl"), (3, "cgl"), (4, "fjk"), (6, "ik")],
    ids=["d0: [b, h, l]", "d3: [c, g, l]", "d4: [f, j, k]", "d6: [i, k]"],
)
def test_rfc_audit_paths_in_the_7_leaf_tree(index: int, names: str) -> None:
    nodes = _rfc_named_nodes()
    expected = [nodes[n] for n in names]
    assert inclusion_proof(HASHES, index, 7) == expected
    assert verify_inclusion(HASHES[index], index, 7, expected, bytes.fromhex(ROOTS[7]))


@pytest.mark.parametrize(
    ("m", "names"),
    [(3, "cdgl"), (4, "l"), (6, "ijk")],
    ids=["PROOF(3, D[7]) = [c, d, g, l]", "PROOF(4, D[7]) = [l]", "PROOF(6, D[7]) = [i, j, k]"],
)
def test_rfc_consistency_proofs_in_the_7_leaf_tree(m: int, names: str) -> None:
    nodes = _rfc_named_nodes()
    expected = [nodes[n] for n in names]
    assert consistency_proof(HASHES, m, 7) == expected
    assert verify_consistency(m, 7, bytes.fromhex(ROOTS[m]), bytes.fromhex(ROOTS[7]), expected)


# --- Every proof of the reference tree, against the second implementation ---

ALL_INCLUSIONS = [(i, n) for n in range(1, 9) for i in range(n)]
ALL_CONSISTENCIES = [(m, n) for n in range(1, 9) for m in range(1, n + 1)]


@pytest.mark.parametrize(("index", "size"), ALL_INCLUSIONS, ids=[f"{i} in {n}" for i, n in ALL_INCLUSIONS])
def test_every_inclusion_proof_of_the_reference_tree(index: int, size: int) -> None:
    path = inclusion_proof(HASHES, index, size)
    assert path == ref_path(index, LEAVES[:size])
    assert verify_inclusion(HASHES[index], index, size, path, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("m", "n"), ALL_CONSISTENCIES, ids=[f"{m} to {n}" for m, n in ALL_CONSISTENCIES])
def test_every_consistency_proof_of_the_reference_tree(m: int, n: int) -> None:
    path = consistency_proof(HASHES, m, n)
    assert path == ref_proof(m, LEAVES[:n])
    assert verify_consistency(m, n, bytes.fromhex(ROOTS[m]), bytes.fromhex(ROOTS[n]), path)


def test_the_empty_tree_is_consistent_with_every_tree() -> None:
    for n in range(9):
        assert consistency_proof(HASHES, 0, n) == []
        assert verify_consistency(0, n, EMPTY_ROOT, bytes.fromhex(ROOTS[n]), [])
        assert not verify_consistency(0, n, bytes.fromhex(ROOTS[1]), bytes.fromhex(ROOTS[n]), [])


# --- Tampering ---


@pytest.mark.parametrize(("index", "size"), ALL_INCLUSIONS, ids=[f"{i} in {n}" for i, n in ALL_INCLUSIONS])
def test_tampered_inclusion_proofs_fail(index: int, size: int) -> None:
    leaf, path, good_root = HASHES[index], inclusion_proof(HASHES, index, size), bytes.fromhex(ROOTS[size])
    assert not verify_inclusion(_flip(leaf, 31), index, size, path, good_root)
    assert not verify_inclusion(leaf, index, size, path, _flip(good_root, 5, 0x80))
    for n, _ in enumerate(path):
        for position in (0, 31):
            bad = [*path[:n], _flip(path[n], position), *path[n + 1 :]]
            assert not verify_inclusion(leaf, index, size, bad, good_root)
    for other in range(size):
        if other != index:
            assert not verify_inclusion(leaf, other, size, path, good_root)
    assert not verify_inclusion(leaf, size, size, path, good_root)
    assert not verify_inclusion(leaf, -1, size, path, good_root)
    if path:
        assert not verify_inclusion(leaf, index, size, path[:-1], good_root)
        assert not verify_inclusion(leaf, index, size, path[1:], good_root)
    assert not verify_inclusion(leaf, index, size, [*path, good_root], good_root)
    assert not verify_inclusion(leaf, index, size, [leaf, *path], good_root)
    # A path for this tree does not prove inclusion in a tree of another size (unless it is also that tree's path).
    for other_size in range(index + 1, 9):
        if other_size != size and inclusion_proof(HASHES, index, other_size) != path:
            assert not verify_inclusion(leaf, index, other_size, path, bytes.fromhex(ROOTS[other_size]))


@pytest.mark.parametrize(("m", "n"), ALL_CONSISTENCIES, ids=[f"{m} to {n}" for m, n in ALL_CONSISTENCIES])
def test_tampered_consistency_proofs_fail(m: int, n: int) -> None:
    path, first, second = consistency_proof(HASHES, m, n), bytes.fromhex(ROOTS[m]), bytes.fromhex(ROOTS[n])
    assert not verify_consistency(m, n, _flip(first, 0), second, path)
    assert not verify_consistency(m, n, first, _flip(second, 31, 0x40), path)
    for i, _ in enumerate(path):
        for position in (0, 17, 31):
            bad = [*path[:i], _flip(path[i], position), *path[i + 1 :]]
            assert not verify_consistency(m, n, first, second, bad)
    if m != n:
        assert not verify_consistency(m, n, second, first, path)
        assert not verify_consistency(m, n, first, second, path[:-1])
        assert not verify_consistency(m, n, first, second, path[1:])
    assert not verify_consistency(m, n, first, second, [*path, second])
    assert not verify_consistency(m, n, first, second, [first, *path])
    assert not verify_consistency(n, m, second, first, path) or m == n
    for other in range(1, 9):
        if other != m:
            assert not verify_consistency(other, n, first, second, path)
    # A proof for these sizes proves nothing about other sizes (unless it is also their proof): sizes and roots are
    # checked together, as a signed tree head gives them.
    for other in range(m, 9):
        if other != n and consistency_proof(HASHES, m, other) != path:
            assert not verify_consistency(m, other, first, bytes.fromhex(ROOTS[other]), path)


@pytest.mark.parametrize(
    "args",
    [
        (HASHES[0][:31], 0, 1, [], HASHES[0]),
        (HASHES[0], 0, 1, [], HASHES[0] + b"\x00"),
        (HASHES[0], 0, 2, [HASHES[1][:31]], bytes.fromhex(ROOTS[2])),
        (HASHES[0].hex(), 0, 1, [], HASHES[0]),
        (HASHES[0], 0, 0, [], HASHES[0]),
        (HASHES[0], 1, 1, [], HASHES[0]),
    ],
    ids=["short leaf", "long root", "short path element", "hex text", "size 0", "index = size"],
)
def test_malformed_inclusion_input_is_false(args: tuple) -> None:
    assert verify_inclusion(*args) is False


@pytest.mark.parametrize(
    "args",
    [
        (1, 2, HASHES[0][:31], bytes.fromhex(ROOTS[2]), [HASHES[1]]),
        (1, 2, HASHES[0], bytes.fromhex(ROOTS[2]), [HASHES[1][:31]]),
        (2, 1, bytes.fromhex(ROOTS[2]), HASHES[0], []),
        (-1, 1, EMPTY_ROOT, HASHES[0], []),
        (1, 2, HASHES[0], bytes.fromhex(ROOTS[2]), []),
        (2, 2, bytes.fromhex(ROOTS[2]), bytes.fromhex(ROOTS[2]), [HASHES[0]]),
    ],
    ids=["short root", "short path element", "first > second", "negative", "empty proof", "equal sizes, proof"],
)
def test_malformed_consistency_input_is_false(args: tuple) -> None:
    assert verify_consistency(*args) is False


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: inclusion_proof(HASHES, 8, 8), "leaf index 8 is not in a tree of size 8"),
        (lambda: inclusion_proof(HASHES, -1, 8), "leaf index -1"),
        (lambda: inclusion_proof(HASHES, 0, 9), "holds 8 entries; a tree of size 9"),
        (lambda: consistency_proof(HASHES, 5, 4), "first 5, second 4"),
        (lambda: consistency_proof(HASHES, 1, 9), "holds 8 entries"),
    ],
    ids=["index = size", "negative index", "size beyond log", "first > second", "second beyond log"],
)
def test_impossible_proof_requests_are_audit_errors(call: object, message: str) -> None:
    with pytest.raises(AuditError, match=message) as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, PrivacyError)


# --- Hypothesis: any single-byte change in any entry is detected ---

entry_lists = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=40)


@given(entries=entry_lists, data=st.data())
def test_any_single_byte_change_in_any_entry_is_detected(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    index = data.draw(st.integers(0, n - 1), label="entry")
    position = data.draw(st.integers(0, len(entries[index]) - 1), label="byte")
    mask = data.draw(st.integers(1, 255), label="xor")
    hashes = leaf_hashes(entries)
    good_root, path = root(hashes), inclusion_proof(hashes, index, n)
    changed = _flip(entries[index], position, mask)
    assert verify_inclusion(hashes[index], index, n, path, good_root)
    assert not verify_inclusion(leaf_hash(changed), index, n, path, good_root)
    tampered = [*hashes[:index], leaf_hash(changed), *hashes[index + 1 :]]
    assert root(tampered) != good_root
    # Every earlier signed head that covers the entry stops matching, and so does its consistency with later ones.
    for m in range(index + 1, n + 1):
        assert root(tampered[:m]) != root(hashes[:m])
        assert not verify_consistency(m, n, root(tampered[:m]), good_root, consistency_proof(hashes, m, n))


@settings(max_examples=60)
@given(entries=st.lists(st.binary(max_size=8), min_size=1, max_size=70), data=st.data())
def test_random_trees_agree_with_the_rfc_text(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    index = data.draw(st.integers(0, n - 1), label="index")
    m = data.draw(st.integers(1, n), label="first")
    hashes = leaf_hashes(entries)
    assert root(hashes) == ref_mth(entries)
    assert inclusion_proof(hashes, index, n) == ref_path(index, entries)
    assert consistency_proof(hashes, m, n) == ref_proof(m, entries)
    assert verify_inclusion(hashes[index], index, n, inclusion_proof(hashes, index, n), root(hashes))
    assert verify_consistency(m, n, root(hashes[:m]), root(hashes), consistency_proof(hashes, m, n))


def test_node_hash_is_the_rfc_definition() -> None:
    assert node_hash(HASHES[0], HASHES[1]).hex() == ROOTS[2]
    assert node_hash(HASHES[1], HASHES[0]) != node_hash(HASHES[0], HASHES[1])


# --- Frontier ---


def test_frontier_root_matches_root_at_every_size_up_to_300() -> None:
    hashes = leaf_hashes(f"entry {i}".encode() for i in range(300))
    frontier = Frontier()
    for n in range(301):
        assert frontier.size == n
        assert frontier.root() == root(hashes[:n])
        assert Frontier.from_leaf_hashes(hashes[:n]) == frontier  # extend (in one batch) and append agree
        assert [s for s, _ in frontier.subtrees] == [1 << b for b in reversed(range(n.bit_length())) if n >> b & 1]
        if n < 300:
            frontier.append(hashes[n])


@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=8))
def test_frontier_extended_in_batches_matches_root(sizes: list[int]) -> None:
    hashes = leaf_hashes(i.to_bytes(2, "big") for i in range(sum(sizes)))
    frontier, done = Frontier(), 0
    for size in sizes:
        frontier.extend(hashes[done : done + size])
        done += size
        assert frontier.root() == root(hashes[:done])
        restored = Frontier.from_json(frontier.to_json())
        assert restored == frontier and restored.root() == frontier.root()
    assert frontier == Frontier.from_leaf_hashes(hashes)


def test_frontier_state_is_small_readable_json() -> None:
    frontier = Frontier.from_leaf_hashes(HASHES[:7])
    doc = json.loads(frontier.to_json())
    assert doc == {
        "tree_size": 7,
        "subtrees": [
            {"size": 4, "hash": ROOTS[4]},
            {"size": 2, "hash": node_hash(HASHES[4], HASHES[5]).hex()},
            {"size": 1, "hash": LEAF_HASHES[6]},
        ],
    }
    copy = frontier.copy()
    copy.append(HASHES[7])
    assert (frontier.size, copy.size, copy.root().hex()) == (7, 8, ROOTS[8])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[", "not JSON"),
        ("[]", "expected tree_size"),
        ('{"tree_size": -1, "subtrees": []}', "expected tree_size"),
        ('{"tree_size": 1, "subtrees": [{"size": 1}]}', "expected tree_size"),
        ('{"tree_size": 1, "subtrees": [{"size": 1, "hash": "zz"}]}', "expected tree_size"),
        (json.dumps({"tree_size": 3, "subtrees": [{"size": 3, "hash": ROOTS[3]}]}), "do not make a tree of size 3"),
        (json.dumps({"tree_size": 1, "subtrees": [{"size": 1, "hash": ROOTS[1][:62]}]}), "32 bytes"),
    ],
    ids=["not JSON", "not an object", "negative size", "no hash", "bad hex", "wrong sizes", "short hash"],
)
def test_malformed_frontier_state_is_an_audit_error(text: str, message: str) -> None:
    with pytest.raises(AuditError, match=message):
        Frontier.from_json(text)


def test_frontier_refuses_a_leaf_that_is_not_a_hash() -> None:
    with pytest.raises(AuditError, match="32 bytes"):
        Frontier().append(b"entry")
    with pytest.raises(AuditError, match="32 bytes"):
        Frontier().extend([HASHES[0], b"entry"])
