"""Merkle trees of RFC 6962 (Certificate Transparency) §2.1: hashes, roots, audit paths and consistency proofs.

Definitions (RFC 6962 §2.1, unchanged in RFC 9162 §2.1.1), with SHA-256 as the hash:

* the hash of the empty tree is ``SHA-256()``, the hash of the empty string;
* a leaf hash is ``SHA-256(0x00 || entry)``;
* a node hash is ``SHA-256(0x01 || left || right)``;
* ``MTH(D[n])`` for ``n > 1`` is the node hash of ``MTH(D[0:k])`` and ``MTH(D[k:n])``, where ``k`` is the largest
  power of two smaller than ``n``.

Proofs are generated from the list of leaf hashes (the log's entries hashed with :func:`leaf_hash`). The
verifiers :func:`verify_inclusion` and :func:`verify_consistency` need no tree: only what an auditor holds (a
leaf hash or two roots, tree sizes, and the proof). They are the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2,
which check proofs generated as in RFC 6962 §2.1.1 and §2.1.2 (the proofs are the same in both RFCs).

:class:`Frontier` keeps the roots of the perfect subtrees that make up a tree (at most one per bit of its size),
so a log can be extended by one entry and its root recomputed in O(log n) without re-reading earlier entries.

Security properties:
    * The 0x00 and 0x01 prefixes separate leaves from interior nodes (second-preimage resistance of the tree).
    * A tree size and root hash are only meaningful together, as signed in a tree head: a proof checked against
      a root taken from one tree and a size taken from another proves nothing.
    * Hashes are compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from typing import Any

from privacy.errors import PrivacyError

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""``MTH({})``: the root hash of the empty tree, SHA-256 of the empty string (RFC 6962 §2.1)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class AuditError(PrivacyError):
    """An audit-log request or document cannot be used: a proof asked for sizes the log does not have, or a
    serialised tree head or frontier that is malformed. Messages name the problem, never entry contents."""


def leaf_hash(entry: bytes) -> bytes:
    """Return the leaf hash of one log entry, ``SHA-256(0x00 || entry)`` (RFC 6962 §2.1)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def leaf_hashes(entries: Iterable[bytes]) -> list[bytes]:
    """Return the leaf hash of every entry, in order (the same as :func:`leaf_hash` on each, but faster)."""
    sha256 = hashlib.sha256
    return [sha256(_LEAF_PREFIX + entry).digest() for entry in entries]


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node, ``SHA-256(0x01 || left || right)`` (RFC 6962 §2.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash ``MTH`` of a tree given its leaf hashes (RFC 6962 §2.1).

    The tree is hashed level by level: pairs of neighbours from the left are combined and an odd node at the right
    end moves up unchanged. This gives the same result as the RFC's recursive split at the largest power of two
    below ``n``, because every left subtree of that split is perfect. About ``n`` hashes for ``n`` leaves.

    Args:
        leaf_hashes: leaf hashes (32 bytes each), in log order.

    Returns:
        The 32-byte root hash; :data:`EMPTY_ROOT` for no leaves.

    Examples:
        >>> root([]).hex()[:8]
        'e3b0c442'
        >>> root([leaf_hash(b"")]).hex()[:8]
        '6e340b9c'
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha256, prefix = hashlib.sha256, _NODE_PREFIX
    while len(level) > 1:
        paired = [sha256(prefix + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): ``k`` of RFC 6962 §2.1."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(leaf_hashes: Sequence[bytes], size: int) -> None:
    if size > len(leaf_hashes):
        raise AuditError(f"the log holds {len(leaf_hashes)} entries; a tree of size {size} was asked for")


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Return the audit path of leaf ``index`` in the tree of the first ``size`` leaves (RFC 6962 §2.1.1 PATH).

    ``PATH(m, D[n])`` lists, from the leaf upwards, the sibling of every node on the way from leaf ``m`` to the
    root. It costs about ``size`` hashes (the siblings are whole subtrees), so it is meant for answering one
    auditor's question, not for checking a log (use :class:`Frontier` for that).

    Args:
        leaf_hashes: the log's leaf hashes; only the first ``size`` are used.
        index: 0-based position of the leaf, ``0 <= index < size``.
        size: the tree size, as signed in a tree head.

    Returns:
        The audit path, a list of 32-byte hashes (empty for a tree of one leaf).

    Raises:
        AuditError: ``index`` is not in the tree, or the log holds fewer than ``size`` leaves.
    """
    _check_size(leaf_hashes, size)
    if not 0 <= index < size:
        raise AuditError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(root(leaf_hashes[start + k : end]))
            end = start + k
        else:
            path.append(root(leaf_hashes[start : start + k]))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_proof(leaf_hashes: Sequence[bytes], m: int, n: int) -> list[bytes]:
    """Return the consistency proof between the trees of the first ``m`` and first ``n`` leaves.

    This is ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`` of RFC 6962 §2.1.2 for ``0 < m < n``. For ``m == n`` and
    for ``m == 0`` (the empty tree is a prefix of every tree) the proof is empty.

    Args:
        leaf_hashes: the log's leaf hashes; only the first ``n`` are used.
        m: size of the earlier tree.
        n: size of the later tree, ``m <= n``.

    Returns:
        The proof, a list of 32-byte hashes.

    Raises:
        AuditError: ``m > n``, a negative size, or the log holds fewer than ``n`` leaves.
    """
    _check_size(leaf_hashes, n)
    if not 0 <= m <= n:
        raise AuditError(f"a consistency proof needs 0 <= first <= second; got first {m}, second {n}")
    if m in (0, n):
        return []
    proof: list[bytes] = []
    start, end, b = 0, n, True
    # SUBPROOF(m, D[start:end], b), with m counted from ``start``; each step appends one hash after the recursion's
    # result, so the hashes are collected top-down and reversed at the end.
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(root(leaf_hashes[start + k : end]))
            end = start + k
        else:
            proof.append(root(leaf_hashes[start : start + k]))
            start, m, b = start + k, m - k, False
    if not b:
        proof.append(root(leaf_hashes[start:end]))
    proof.reverse()
    return proof


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def verify_inclusion(leaf_hash: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """Check an audit path: is the leaf with hash ``leaf_hash`` at ``index`` in the tree of ``size`` and ``root``?

    This is the algorithm of RFC 9162 §2.1.3.2, and needs nothing but SHA-256. ``size`` and ``root`` must come
    together from one verified signed tree head.

    Args:
        leaf_hash: ``SHA-256(0x00 || entry)`` of the entry.
        index: the entry's 0-based position.
        size: the tree size of the signed tree head.
        path: the audit path (:func:`inclusion_proof`).
        root: the root hash of the signed tree head.

    Returns:
        True if the path leads from the leaf to ``root``; False for anything else, including malformed input.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and all(_is_hash(p) for p in path)):
        return False
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(m: int, n: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]) -> bool:
    """Check a consistency proof: is the tree of size ``m`` and ``first_root`` a prefix of the tree of ``n``?

    For ``0 < m < n`` this is the algorithm of RFC 9162 §2.1.4.2. For ``m == n`` the proof must be empty and the
    roots equal; for ``m == 0`` the proof must be empty and ``first_root`` the empty tree's hash. Each size must come
    with its root from one verified signed tree head.

    Args:
        m: size of the earlier tree head.
        n: size of the later tree head.
        first_root: root hash of the earlier tree head.
        second_root: root hash of the later tree head.
        path: the consistency proof (:func:`consistency_proof`).

    Returns:
        True if the proof shows that the later tree extends the earlier one; False for anything else, including
        malformed input.
    """
    if not (_is_hash(first_root) and _is_hash(second_root) and all(_is_hash(p) for p in path)):
        return False
    if not 0 <= m <= n:
        return False
    if m == 0:
        return not path and hmac.compare_digest(first_root, EMPTY_ROOT)
    if m == n:
        return not path and hmac.compare_digest(first_root, second_root)
    if not path:
        return False
    nodes = list(path)
    if m & (m - 1) == 0:  # m is an exact power of two: the proof omits the old root, which is known
        nodes.insert(0, first_root)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(fr, first_root) and hmac.compare_digest(sr, second_root)


class Frontier:
    """The roots of the perfect subtrees that make up a tree: enough to append leaves and compute the root.

    A tree of ``n`` leaves is the sequence of perfect subtrees given by the binary digits of ``n``, largest first
    (for 7 leaves: subtrees of 4, 2 and 1 leaves). Its RFC 6962 root hash is their right-to-left fold with
    :func:`node_hash`. Appending a leaf pushes a subtree of one leaf and merges equal neighbours, so appending
    costs O(1) hashes on average and O(log n) at most, and the state is at most 64 hashes whatever the log's
    length. This is the "compact range" of Certificate Transparency implementations.

    Examples:
        >>> f = Frontier()
        >>> f.extend(leaf_hash(bytes.fromhex(h)) for h in ["", "00", "10"])
        >>> f.size, f.root().hex()[:8]
        (3, 'aeb6bcfe')
    """

    __slots__ = ("_hashes", "_size", "_sizes")

    def __init__(self) -> None:
        self._size = 0
        self._sizes: list[int] = []
        self._hashes: list[bytes] = []

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> Frontier:
        """Return the frontier of the tree of ``leaf_hashes``."""
        frontier = cls()
        frontier.extend(leaf_hashes)
        return frontier

    @property
    def size(self) -> int:
        """The number of leaves appended so far (the tree size)."""
        return self._size

    @property
    def subtrees(self) -> list[tuple[int, bytes]]:
        """The (leaf count, root hash) of each perfect subtree, largest (leftmost) first."""
        return list(zip(self._sizes, self._hashes, strict=True))

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash (``SHA-256(0x00 || entry)``) to the tree."""
        if not _is_hash(leaf_hash):
            raise AuditError(f"a leaf hash is {HASH_SIZE} bytes")
        sizes, hashes = self._sizes, self._hashes
        sizes.append(1)
        hashes.append(leaf_hash)
        while len(sizes) > 1 and sizes[-1] == sizes[-2]:
            right = hashes.pop()
            sizes.pop()
            hashes[-1] = hashlib.sha256(_NODE_PREFIX + hashes[-1] + right).digest()
            sizes[-1] *= 2
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append leaf hashes in order (the same as :meth:`append` on each, and the same hashes, but faster).

        The new leaves are combined level by level, like a binary addition of the batch to the tree size: at each
        level the frontier's subtree of that level (if any) is the left neighbour of the new nodes, neighbours are
        paired from the left, and an odd node at the right end becomes the frontier's subtree of that level.

        Raises:
            AuditError: a leaf hash is not 32 bytes (nothing is appended then).
        """
        nodes = list(leaf_hashes)
        if not all(map(_is_hash, nodes)):
            raise AuditError(f"a leaf hash is {HASH_SIZE} bytes")
        if not nodes:
            return
        count = len(nodes)
        by_level = {s.bit_length() - 1: h for s, h in zip(self._sizes, self._hashes, strict=True)}
        sha256, prefix, level = hashlib.sha256, _NODE_PREFIX, 0
        while nodes:
            if level in by_level:
                nodes = [by_level.pop(level), *nodes]
            if len(nodes) % 2:
                by_level[level] = nodes.pop()
            nodes = [sha256(prefix + a + b).digest() for a, b in zip(nodes[0::2], nodes[1::2], strict=True)]
            level += 1
        levels = sorted(by_level, reverse=True)
        self._sizes = [1 << lv for lv in levels]
        self._hashes = [by_level[lv] for lv in levels]
        self._size += count

    def root(self) -> bytes:
        """Return the RFC 6962 root hash of the tree so far (:data:`EMPTY_ROOT` when empty)."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            r = node_hash(left, r)
        return r

    def copy(self) -> Frontier:
        """Return an independent copy (appending to one does not change the other)."""
        other = Frontier()
        other._size, other._sizes, other._hashes = self._size, list(self._sizes), list(self._hashes)
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()})"

    def to_dict(self) -> dict[str, Any]:
        """Return the state as plain data: the tree size and each subtree's leaf count and hex root hash."""
        return {
            "tree_size": self._size,
            "subtrees": [{"size": s, "hash": h.hex()} for s, h in zip(self._sizes, self._hashes, strict=True)],
        }

    def to_json(self) -> str:
        """Return the state as one line of JSON (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, doc: object) -> Frontier:
        """Rebuild a frontier from :meth:`to_dict`'s output.

        Raises:
            AuditError: the document is malformed, or its subtree sizes are not the binary digits of the tree size.
        """
        malformed = AuditError("malformed frontier: expected tree_size and a list of subtrees (size, hex hash)")
        if not isinstance(doc, dict) or not isinstance(doc.get("subtrees"), list):
            raise malformed
        size = doc.get("tree_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise malformed
        try:
            sizes = [s["size"] for s in doc["subtrees"]]
            hashes = [bytes.fromhex(s["hash"]) for s in doc["subtrees"]]
        except (KeyError, TypeError, ValueError):
            raise malformed from None
        expected = [1 << b for b in reversed(range(size.bit_length())) if size >> b & 1]
        if sizes != expected:
            raise AuditError(f"malformed frontier: subtree sizes {sizes} do not make a tree of size {size}")
        if not all(_is_hash(h) for h in hashes):
            raise AuditError(f"malformed frontier: every subtree hash is {HASH_SIZE} bytes")
        frontier = cls()
        frontier._size, frontier._sizes, frontier._hashes = size, expected, hashes
        return frontier

    @classmethod
    def from_json(cls, text: str | bytes) -> Frontier:
        """Rebuild a frontier from :meth:`to_json`'s output.

        Raises:
            AuditError: the text is not JSON or not a valid frontier.
        """
        try:
            doc = json.loads(text)
        except ValueError:
            raise AuditError("malformed frontier: not JSON") from None
        return cls.from_dict(doc)
