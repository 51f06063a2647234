"""Tamper-evident audit log: an RFC 6962 (Certificate Transparency) Merkle tree over log entries and signed tree heads.

Modules:
    merkle: leaf and node hashes, root hashes, audit paths (RFC 6962 §2.1.1) and consistency proofs (§2.1.2),
        their verifiers (RFC 9162 §2.1.3.2, §2.1.4.2), which need no tree, and ``Frontier`` for appending entries
        in O(log n) each; ``AuditError``, the base of this package's errors.
    heads: the log's Ed25519 signing key (its own PEM file, separate from the pseudonymization key), and tree heads
        signed over RFC 6962 §3.5's ``TreeHeadSignature``, exported as JSON lines.

Names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from privacy.lazy import lazy_names

if TYPE_CHECKING:
    from privacy.audit.heads import (
        TreeHead,
        key_id,
        load_public_key,
        load_signing_key,
        new_signing_key_file,
        public_key_pem,
        sign_tree_head,
        verify_tree_head,
    )
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

_MERKLE = (
    "EMPTY_ROOT",
    "AuditError",
    "Frontier",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
)
_HEADS = (
    "TreeHead",
    "key_id",
    "load_public_key",
    "load_signing_key",
    "new_signing_key_file",
    "public_key_pem",
    "sign_tree_head",
    "verify_tree_head",
)
_NAMES = {name: ("privacy.audit.merkle", name) for name in _MERKLE} | {
    name: ("privacy.audit.heads", name) for name in _HEADS
}

__all__ = [
    "EMPTY_ROOT",
    "AuditError",
    "Frontier",
    "TreeHead",
    "consistency_proof",
    "inclusion_proof",
    "key_id",
    "leaf_hash",
    "leaf_hashes",
    "load_public_key",
    "load_signing_key",
    "new_signing_key_file",
    "node_hash",
    "public_key_pem",
    "root",
    "sign_tree_head",
    "verify_consistency",
    "verify_inclusion",
    "verify_tree_head",
]

__getattr__ = lazy_names(__name__, _NAMES, globals())
