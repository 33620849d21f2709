"""The golden streams of the public SAM simulator's primitive tests (weiya711/sam,
`sam/sim/test/primitives/`, commit 6e477d1), written as data in SAM's own spelling: ints,
'S0'.., 'N', 'D', and '' for a cycle with no token (a bubble, dropped on reading).

Every test case of every file is in exactly one of `REPRODUCED` (its inputs and goldens,
run against our rules by test_sam_conformance.py) or `NOT_EXPRESSIBLE` (how many cases and
why). Case counts are pytest's: one per parameter combination.
"""

from __future__ import annotations

# -- reproduced: (file, test) -> list of cases --------------------------------------------

STKN_DROP = [
    [0, 1, "S0", "D"],
    [1, "S0", "S1", "D"],
    [0, 1, "S0", "D"],
    [1, "S0", 1, "S1", "D"],
    [0, 1, 2, 3, "S0", "D"],
    [1, "S0", 1, "S0", "S0", 1, "S1", "D"],
    [0, 1, 3, "S0", "D"],
]
EMPTY_STKN_DROP = STKN_DROP + [
    [8, "S0", "S1", "D"],
    [8, 9, "S0", 10, "S0", "S0", "S1", 11, "S1", "S0", "S2", "D"],
    ["S0", "S1", 8, 9, "S0", 10, "S0", "S0", "S1", 11, "S1", "S0", "S2", "D"],
]
# (outer in, inner in, outer gold)
CRD_DROP = [
    ([0, 1, "S0", "D"], [1, "S0", "S1", "D"], [0, "S0", "D"]),
    ([0, 1, "S0", "D"], [1, "S0", 1, "S1", "D"], [0, 1, "S0", "D"]),
    ([0, 1, 2, 3, "S0", "D"], [1, "S0", 1, "S0", "S0", 1, "S1", "D"], [0, 1, 3, "S0", "D"]),
    (["S0", "D"], ["S1", "D"], ["S0", "D"]),
]
CRD_DROP_BUBBLES = [
    (
        ["", 0, 1, "", "", "S0", "D", "", "", "", ""],
        ["", "", "", 1, "", "", "S0", "", "", "S1", "D"],
        [0, "S0", "D"],
    )
]
# (outer in, inner in, gold)
CRD_HOLD = [
    (
        [0, 1, 2, "S0", "D"],
        [0, 2, "S0", 2, "S0", 2, "S1", "D"],
        [0, 0, "S0", 1, "S0", 2, "S1", "D"],
    ),
    (
        [0, 1, 2, 5, "S0", "D"],
        [1, 2, 5, "S0", 2, "S0", 2, "S0", 2, 3, 4, 5, "S1", "D"],
        [0, 0, 0, "S0", 1, "S0", 2, "S0", 5, 5, 5, 5, "S1", "D"],
    ),
    (
        [0, 2, "S0", 3, "S0", 4, "S1", "D"],
        [0, 2, 3, "S0", 0, 2, 3, "S1", 0, "S1", 2, 3, "S2", "D"],
        [0, 0, 0, "S0", 2, 2, 2, "S1", 3, "S1", 4, 4, "S2", "D"],
    ),
]
# (in, gold): the repeat-signal generator spells every stop 'S'
REPSIG = [
    ([0, 1, "S0", 2, "S0", 3, "S1", "D"], ["R", "R", "S", "R", "S", "R", "S", "D"]),
    (
        [0, 1, 2, "S0", 0, 1, 2, "S1", 3, "S1", 4, 5, "S2", "D"],
        ["R", "R", "R", "S", "R", "R", "R", "S", "R", "S", "R", "R", "S", "D"],
    ),
    (
        [0, 1, 2, "S0", 0, 1, 2, "S1", "S1", 4, 5, "S2", "D"],
        ["R", "R", "R", "S", "R", "R", "R", "S", "S", "R", "R", "S", "D"],
    ),
]
REPSIG_RANDOM = [(nd, max_val) for max_val in (4, 16, 32, 64) for nd in (1, 2, 3, 4, 5)]
# (ref in, repeat signal, gold)
REPEAT = [
    (
        [0, 1, 2, "S0", "D"],
        ["R", "R", "S", "R", "S", "R", "S", "D"],
        [0, 0, "S0", 1, "S0", 2, "S1", "D"],
    ),
    (
        [0, 1, "S0", 2, "S0", 3, "S1", "D"],
        ["R", "R", "R", "S", "R", "R", "R", "S", "R", "S", "R", "R", "S", "D"],
        [0, 0, 0, "S0", 1, 1, 1, "S1", 2, "S1", 3, 3, "S2", "D"],
    ),
    (
        [0, "S0", 1, 2, 3, "S1", "D"],
        ["R", "R", "R", "S", "R", "R", "R", "S", "R", "S", "R", "R", "S", "D"],
        [0, 0, 0, "S1", 1, 1, 1, "S0", 2, "S0", 3, 3, "S2", "D"],
    ),
    ([0, "D"], ["R", "R", "S", "D"], [0, 0, "S0", "D"]),
    ([0, 1, "S0", "D"], ["R", "R", "R", "S"] * 2 + ["D"], [0, 0, 0, "S0", 1, 1, 1, "S1", "D"]),
    (
        [0] + ["S0"] * 7 + ["S1", "D"],
        ["R"] + ["S"] * 8 + ["D"],
        [0] + ["S1"] * 7 + ["S2", "D"],
    ),
    ([0, "S0", 1, "S1", "D"], ["S", "R", "S", "D"], ["S1", 1, "S2", "D"]),
    (
        ["N", 0, 1, "S0", "D"],
        ["R", "S", "R", "S", "R", "S", "D"],
        ["N", "S0", 0, "S0", 1, "S1", "D"],
    ),
]
# (crd1, ref1, crd2, ref2, crd gold, ref1 gold, ref2 gold)
UNION = [
    (
        [0, 1, 3, 5, "S0", "D"],
        [0, 1, 2, 3, "S0", "D"],
        [0, 2, 3, 4, "S0", "D"],
        [0, 1, 2, 3, "S0", "D"],
        [0, 1, 2, 3, 4, 5, "S0", "D"],
        [0, 1, "N", 2, "N", 3, "S0", "D"],
        [0, "N", 1, 2, 3, "N", "S0", "D"],
    ),
    (
        [0, 1, "S0", 2, 3, "S0", "S0", 4, 5, "S1", "D"],
        [0, 1, "S0", 2, 3, "S0", "S0", 4, 5, "S1", "D"],
        [1, 2, 3, "S0", "S0", 0, 1, 2, "S0", "S1", "D"],
        [0, 1, 2, "S0", "S0", 2, 3, 4, "S0", "S1", "D"],
        [0, 1, 2, 3, "S0", 2, 3, "S0", 0, 1, 2, "S0", 4, 5, "S1", "D"],
        [0, 1, "N", "N", "S0", 2, 3, "S0", "N", "N", "N", "S0", 4, 5, "S1", "D"],
        ["N", 0, 1, 2, "S0", "N", "N", "S0", 2, 3, 4, "S0", "N", "N", "S1", "D"],
    ),
]
INTERSECT_2D = [
    (
        [0, "S0", 0, 1, 2, "S1", "D"],
        [0, "S0", 1, 2, 3, "S1", "D"],
        [0, 1, 2, "S0", 0, 1, 2, "S1", "D"],
        [0, 1, 2, "S0", 0, 1, 2, "S1", "D"],
        [0, "S0", 0, 1, 2, "S1", "D"],
        [0, "S0", 1, 2, 3, "S1", "D"],
        [0, "S0", 0, 1, 2, "S1", "D"],
    )
]
INTERSECT_1D_CRD2 = [0, 2, 4, 15, 17, 25, 31, 32, 50, 63]
INTERSECT_1D = [4, 16, 32, 64]
# compressed scanner: (seg, crd, in ref, out crd, out ref)
SCAN_C = [
    ([0, 3], [0, 1, 3], [0, "D"], [0, 1, 3, "S0", "D"], [0, 1, 2, "S0", "D"]),
    (
        [0, 2, 3, 4],
        [0, 2, 2, 2],
        [0, 1, 2, "S0", "D"],
        [0, 2, "S0", 2, "S0", 2, "S1", "D"],
        [0, 1, "S0", 2, "S0", 3, "S1", "D"],
    ),
    (
        [0, 3, 4, 6],
        [0, 2, 3, 0, 2, 3],
        [0, 0, "S0", 1, "S0", 2, "S1", "D"],
        [0, 2, 3, "S0", 0, 2, 3, "S1", 0, "S1", 2, 3, "S2", "D"],
        [0, 1, 2, "S0", 0, 1, 2, "S1", 3, "S1", 4, 5, "S2", "D"],
    ),
    ([0, 4], [0, 1, 2, 3], [0, "D"], [0, 1, 2, 3, "S0", "D"], [0, 1, 2, 3, "S0", "D"]),
    (
        [0, 1],
        [28],
        [0, "S0", "S0", 0, "S0", "D"],
        [28, "S1", "S1", 28, "S1", "D"],
        [0, "S1", "S1", 0, "S1", "D"],
    ),
    (
        [0, 1],
        [28],
        [0, "S0", "", "", "S0", "", "", 0, "", "", "S0", "", "", "D"],
        [28, "S1", "S1", 28, "S1", "D"],
        [0, "S1", "S1", 0, "S1", "D"],
    ),
]
# N references: SAM's scanner answers an N with an N in a fiber of its own
SCAN_C_EMPTY = [
    (
        [0, 2, 3, 4],
        [0, 1, 2, 3],
        [0, 1, "N", 2, "N", "S0", "D"],
        [0, 1, "S0", 2, "S0", "N", "S0", 3, "S0", "N", "S1", "D"],
        [0, 1, "S0", 2, "S0", "N", "S0", 3, "S0", "N", "S1", "D"],
    ),
    (
        [0, 3, 4, 6],
        [0, 2, 3, 0, 2, 3],
        [0, "N", 1, "N", 2, "S0", "D"],
        [0, 2, 3, "S0", "N", "S0", 0, "S0", "N", "S0", 2, 3, "S1", "D"],
        [0, 1, 2, "S0", "N", "S0", 3, "S0", "N", "S0", 4, 5, "S1", "D"],
    ),
    (
        [0, 4, 5, 5, 7, 10, 11],
        list(range(11)),
        [0, 1, "N", "N", "S0", 2, 3, "S0", "N", "N", "S0", 4, 5, "S0", "N", "N", "S1", "D"],
        [
            0,
            1,
            2,
            3,
            "S0",
            4,
            "S0",
            "N",
            "S0",
            "N",
            "S1",
            "S0",
            5,
            6,
            "S1",
            "N",
            "S0",
            "N",
            "S1",
            7,
            8,
            9,
            "S0",
            10,
            "S1",
            "N",
            "S0",
            "N",
            "S2",
            "D",
        ],  # fmt: skip
        [
            0,
            1,
            2,
            3,
            "S0",
            4,
            "S0",
            "N",
            "S0",
            "N",
            "S1",
            "S0",
            5,
            6,
            "S1",
            "N",
            "S0",
            "N",
            "S1",
            7,
            8,
            9,
            "S0",
            10,
            "S1",
            "N",
            "S0",
            "N",
            "S2",
            "D",
        ],  # fmt: skip
    ),
]
SCAN_DIMS = [1, 2, 4, 16, 32, 100]
# value array loads with N: (ref, array, gold)
LOAD_EMPTY = [
    ([0, 1, "N", 2, "N", 3, "S0", "D"], [1, 2, 3, 4], [1, 2, 0, 3, 0, 4, "S0", "D"]),
    (
        [0, "N", 1, 2, 3, "N", "S0", "D"],
        [1, 2, 3, 4],
        [1, 0, 2, 3, 4, 0, "S0", "D"],
    ),
    (
        [0, 1, "S0", 2, 3, "S0", "N", "S0", 4, 5, "S1", "D"],
        [1, 2, 3, 4, 5, 6],
        [1, 2, "S0", 3, 4, "S0", 0, "S0", 5, 6, "S1", "D"],
    ),
    (
        [0, 1, 2, "S0", "N", "S0", 2, 3, "N", 4, "N", "S0", "N", "S1", "D"],
        [1, 2, 3, 4, 5],
        [1, 2, 3, "S0", 0, "S0", 3, 4, 0, 5, 0, "S0", 0, "S1", "D"],
    ),
    (
        [0, 1, "N", "N", "S0", 2, 3, "S0", "N", "N", "N", "S0", 4, 5, "S1", "D"],
        [1, 2, 3, 4, 5, 6],
        [1, 2, 0, 0, "S0", 3, 4, "S0", 0, 0, 0, "S0", 5, 6, "S1", "D"],
    ),
    (
        ["N", 0, 1, 2, "S0", "N", "N", "S0", 2, 3, 4, "S0", "N", "N", "S1", "D"],
        [1, 2, 3, 4, 5],
        [0, 1, 2, 3, "S0", 0, 0, "S0", 3, 4, 5, "S0", 0, 0, "S1", "D"],
    ),
]
LOAD_1D = [4, 16, 32, 64]
# (in, gold)
REDUCE = [
    ([5, 5, "S0", 5, "S0", 4, 8, "S0", 4, 3, "S0", 4, 3, "S1", "D"], [10, 5, 12, 7, 7, "S0", "D"]),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, "S2", "D"], [45, "S1", "D"]),
]
COMPUTE_ADD = [(dim, neg1, neg2) for dim in (4, 16, 32, 64) for neg1 in (1, 0) for neg2 in (1, 0)]
COMPUTE_MUL = [4, 16, 32, 64]
# split / flatten: (crd in, factor, outer gold, inner gold with original coordinates)
SPLIT = [
    ([0, 2, 3, 9, 11, 12, "S0", "D"], 4, [0, 2, 3, "S0", "D"],
     [0, 2, 3, "S0", 9, 11, "S0", 12, "S1", "D"]),
    ([0, 2, 3, "S0", "D"], 4, [0, "S0", "D"], [0, 2, 3, "S1", "D"]),
    ([0, 2, 3, "S0", 1, 3, "S0", 0, "S1", "D"], 2, [0, 1, "S0", 0, 1, "S0", 0, "S1", "D"],
     [0, "S0", 2, 3, "S1", 1, "S0", 3, "S1", 0, "S2", "D"]),
    ([0, 1, 2, 3, "S0", 0, 1, 2, 3, "S0", 0, 1, 2, 3, "S1", "D"], 2,
     [0, 1, "S0", 0, 1, "S0", 0, 1, "S1", "D"],
     [0, 1, "S0", 2, 3, "S1", 0, 1, "S0", 2, 3, "S1", 0, 1, "S0", 2, 3, "S2", "D"]),
    ([0, 4, 8, 12, 16, "S0", "D"], 4, [0, 1, 2, 3, 4, "S0", "D"],
     [0, "S0", 4, "S0", 8, "S0", 12, "S0", 16, "S1", "D"]),
    ([0, 2, 3, 9, 11, 12, "S0", "D"], 3, [0, 1, 3, 4, "S0", "D"],
     [0, 2, "S0", 3, "S0", 9, 11, "S0", 12, "S1", "D"]),
    ([0, 1, 2, 3, 4, 5, "", 6, 7, "S0", "D"], 4, [0, 1, "S0", "D"],
     [0, 1, 2, 3, "S0", 4, 5, 6, 7, "S1", "D"]),
]  # fmt: skip
# bit vectors (test_bv.py, test_bv_chunk.py): coordinate streams in, masks by SAM's get_bv
BV = [
    [0, 2, 3, 9, 11, 12, "S0", "D"],
    [0, 2, 3, "S0", "D"],
    [0, 2, 3, "S0", 9, 11, "S0", 12, "S1", "D"],
    [0, 2, 3, "S0", "D"],
    [0, "S0", "D"],
    [0, 2, 3, "S1", "D"],
    [0, 2, 3, "S0", 1, 3, "S0", 0, "S1", "D"],
    [0, 1, "S0", 0, 1, "S0", 0, "S1", "D"],
    [0, "S0", 2, 3, "S1", 1, "S0", 3, "S1", 0, "S2", "D"],
    [0, 1, 2, 3, "S0", 0, 1, 2, 3, "S0", 0, 1, 2, 3, "S1", "D"],
    [0, 1, "S0", 0, 1, "S0", 0, 1, "S1", "D"],
    [0, 1, "S0", 2, 3, "S1", 0, 1, "S0", 2, 3, "S1", 0, 1, "S0", 2, 3, "S2", "D"],
    [0, 4, 8, 12, 16, "S0", "D"],
    [0, 1, 2, 3, 4, "S0", "D"],
    [0, "S0", 4, "S0", 8, "S0", 12, "S0", 16, "S1", "D"],
    [0, 2, 3, 9, 11, 12, "S0", "D"],
    [0, 1, 3, 4, "S0", "D"],
    [0, 2, "S0", 3, "S0", 9, 11, "S0", 12, "S1", "D"],
    ["S0", "D"],
]
BV_CHUNK = [[0, 2, 3, 9, 11, 12, "S0", "D"], [0, 2, 3, 9, 11, "S0", "D"], ["S0", "D"]]
BV_CHUNK_WIDTH, BV_CHUNK_SIZE = 4, 16
FLATTEN = SPLIT[:6]
_IBV4 = [  # test_bv_drop's fourth case: 32 full inner fibers (its bubbles dropped)
    33685520, 2457600, 17321986, 8389696, 2147483808, 16909321, 572785668, 16842788,
    134217792, 512, 268447760, 1074282528, 33589371, 3221229568, 385056, 2149583360,
    1572897, 570781704, 4338204, 13893664, 528736, 561188, 2227177539, 21242113, 2147520512,
    153102344, 2147745792, 10753, 34145632, 403177632, 444596320, 16,
]  # fmt: skip
_IBV4_STREAM = [t for m in _IBV4[:-1] for t in (m, "S0")] + [_IBV4[-1], "S1", "D"]
# bit-vector scanner: (one mask per fiber of the level, dim, in ref, out bv, out ref)
SCAN_BV = [
    ([0b1011], 4, [0, "D"], [0b1011, "S0", "D"], [0, "S0", "D"]),
    ([0b1011, 0b0101, 0b1000], 4, [1, 2, "S0", "D"], [0b0101, "S0", 0b1000, "S1", "D"],
     [3, "S0", 5, "S1", "D"]),
    ([0b1011, 0b0110], 4, [0, 1, "S0", "D"], [0b1011, "S0", 0b0110, "S1", "D"],
     [0, "S0", 3, "S1", "D"]),
]  # fmt: skip
# (outer bv in, inner bv in, outer gold, inner gold)
BV_DROP = [
    ([0b1100, "S0", "D"], [0b1000, "S0", "S1", "D"], [0b0100, "S0", "D"], [0b1000, "S1", "D"]),
    ([0b1111, "S0", "D"], ["S0", 0b1000, "S0", "S0", "S1", "D"], [0b0010, "S0", "D"],
     [0b1000, "S1", "D"]),
    ([0b1111, "S0", 0b0101, "S1", "D"], ["S0", 0b1000, "S0", "S0", "S1", "S0", "S2", "D"],
     [0b0010, "S1", "D"], [0b1000, "S2", "D"]),
    ([4294967295, "S0", "D"], _IBV4_STREAM, [4294967295, "S0", "D"], _IBV4_STREAM),
]  # fmt: skip
# (bv1, bv2, ref1, ref2 in; bv, ref1, ref2 gold)
INTERSECT_BV = [
    ([0b1101, "S0", "D"], [0b1100, "S0", "D"], [1, "S0", "D"], [3, "S0", "D"],
     [0b1100, "S0", "D"], [2, 3, "S0", "D"], [3, 4, "S0", "D"]),
    ([0b1010, "S0", 0b0001, "S1", "D"], [0b1101, "S0", 0b0110, "S1", "D"], [3, "S0", 5, "S1", "D"],
     [0, "S0", 3, "S1", "D"], [0b1000, "S0", "S1", "D"], [4, "S0", "S1", "D"],
     [2, "S0", "S1", "D"]),
]  # fmt: skip
# coordinate points: (outer in, inner in, outer gold, inner gold as SAM's last_level=False)
CRDPT_CONVERT = [
    ([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, "D"], [0, 0, 1, 0, 1, 2, 3, 1, 1, 1, "D"],
     [0, 1, 2, "S0", "D"], [0, 0, 1, "S0", 0, 1, 2, 3, "S0", 1, 1, 1, "S0", "D"]),
    ([0, 0, 0, 1, 1, 1, 1, 2, "D"], [0, 0, 1, 0, 1, 2, 3, 1, "D"],
     [0, 1, 2, "S0", "D"], [0, 0, 1, "S0", 0, 1, 2, 3, "S0", 1, "S0", "D"]),
    ([0, 0, 1, "S0", 0, 1, 2, 3, "S0", 1, 1, 1, "S0", "D"], [0, 1, 0, 0, 1, 0, 1, 0, 1, 2, "D"],
     [0, 1, "S0", 0, 1, 2, 3, "S0", 1, "S1", "D"],
     [0, 1, "S0", 0, "S1", 0, "S0", 1, "S0", 0, "S0", 1, "S1", 0, 1, 2, "S1", "D"]),
]  # fmt: skip
# (outer, inner, val in; outer, inner, val gold) for the point accumulators, and the
# fibered goldens SAM's spacc (val_stkn=True) gives on the same inputs
CRDPT_ACC1 = [
    ([0, 0, 0, 2, 2, 2, 2, 2, 2, "D"], [0, 2, 3, 0, 2, 3, 0, 2, 3, "D"],
     [50, 5, 10, 40, 4, 8, -40, 33, 36, "D"],
     [0, 0, 0, 2, 2, 2, "D"], [0, 2, 3, 0, 2, 3, "D"], [50, 5, 10, 0, 37, 44, "D"]),
]  # fmt: skip
CRDPT_ACC2 = [
    ([0, 2, 3, 0, 0, 2, 2, 2, 3, 3, 3, 3, 3, 0, "D"], [0, 2, 3, 0, 2, 0, 0, 3, 0, 2, 3, 0, 2, 0, "D"],
     [50, 5, 10, 40, 4, 8, -40, 33, 36, 1, 2, 3, 4, 5, "D"],
     [0, 0, 2, 2, 2, 3, 3, 3, "D"], [0, 2, 0, 2, 3, 0, 2, 3, "D"],
     [95.0, 4.0, -32.0, 5.0, 33.0, 39.0, 5.0, 12.0, "D"]),
    ([0, 0, 0, 1, 1, 1, 1, 0, 0, "D"], [0, 2, 3, 0, 2, 3, 4, 2, 3, "D"],
     [50, 5, 10, 40, 4, 8, -40, 33, 36, "D"],
     [0, 0, 0, 1, 1, 1, 1, "D"], [0, 2, 3, 0, 2, 3, 4, "D"], [50, 38, 46, 40, 4, 8, -40, "D"]),
]  # fmt: skip
SPACC = [  # (index into CRDPT_ACC1 + CRDPT_ACC2, outer gold, inner gold, val gold)
    (0, [0, 2, "S0", "D"], [0, 2, 3, "S0", 0, 2, 3, "S1", "D"],
     [50, 5, 10, "S0", 0, 37, 44, "S1", "D"]),
    (1, [0, 2, 3, "S0", "D"], [0, 2, "S0", 0, 2, 3, "S0", 0, 2, 3, "S1", "D"],
     [95.0, 4.0, "S0", -32.0, 5.0, 33.0, "S0", 39.0, 5.0, 12.0, "S1", "D"]),
    (2, [0, 1, "S0", "D"], [0, 2, 3, "S0", 0, 2, 3, 4, "S1", "D"],
     [50, 38, 46, "S0", 40, 4, 8, -40, "S1", "D"]),
]  # fmt: skip
# writers (test_wr_scanner.py, test_array.py's stores): sizes of the random cases
VAL_WRITE = [4, 16, 32, 64]
CRD_WRITE = [1, 10, 100, 500, 1000]
CRD_WRITE_2D = [([0, 2, 3, "S0", 0, 2, 3, "S1", "D"], [0, 2, 3, 0, 2, 3], [0, 3, 6])]
ARRAY_STORE = [
    4,
    16,
    32,
    64,
]  # SAM's flatten and split-then-flatten tests leave out the bubble case

REPRODUCED: dict[tuple[str, str], int] = {
    ("test_stkn_drop.py", "test_tkn_drop"): len(STKN_DROP),
    ("test_empty_stkn_drop.py", "test_empty_stkn_drop"): len(EMPTY_STKN_DROP),
    ("test_crd_drop.py", "test_crd_drop_1d"): len(CRD_DROP),
    ("test_crd_drop.py", "test_crd_drop_emptystr_1d"): len(CRD_DROP_BUBBLES),
    ("test_crd_hold.py", "test_crd_hold_nd"): len(CRD_HOLD),
    ("test_repeat.py", "test_repeat_gen_direct"): len(REPSIG),
    ("test_repeat.py", "test_repeat_gen_random_nd"): len(REPSIG_RANDOM),
    ("test_repeat.py", "test_repeat_direct"): len(REPEAT),
    ("test_union.py", "test_union_direct_nd"): len(UNION),
    ("test_intersect.py", "test_intersect_direct_2d"): len(INTERSECT_2D),
    ("test_intersect.py", "test_intersect_1d"): len(INTERSECT_1D),
    ("test_rd_scanner.py", "test_rd_scan_u_direct_1d"): len(SCAN_DIMS),
    ("test_rd_scanner.py", "test_rd_scan_u_direct_2d"): len(SCAN_DIMS),
    ("test_rd_scanner.py", "test_rd_scan_u_direct_3d"): len(SCAN_DIMS),
    ("test_rd_scanner.py", "test_rd_scan_c_direct_1d"): 1,
    ("test_rd_scanner.py", "test_rd_scan_c_direct_nd"): len(SCAN_C) - 1,
    ("test_rd_scanner.py", "test_rd_scan_direct_c_0tkn_nd"): len(SCAN_C_EMPTY),
    ("test_array.py", "test_arr_load_1d"): len(LOAD_1D),
    ("test_array.py", "test_arr_load_direct_0tkn"): len(LOAD_EMPTY),
    ("test_reduce.py", "test_reduce_direct_nd"): len(REDUCE),
    ("test_compute.py", "test_add_1d"): len(COMPUTE_ADD),
    ("test_compute.py", "test_mul_1d"): len(COMPUTE_MUL),
    ("test_split_flatten.py", "test_split_direct"): 2 * len(SPLIT),
    ("test_split_flatten.py", "test_flat_direct"): len(FLATTEN),
    ("test_split_flatten.py", "test_split_flat_direct"): len(FLATTEN),
    ("test_bv.py", "test_bv_direct"): len(BV),
    ("test_bv.py", "test_split_bv_intersect_direct"): len(FLATTEN),
    ("test_bv_chunk.py", "test_bv_chunk_direct"): len(BV_CHUNK),
    ("test_wr_scanner.py", "test_val_wr_scan_1d"): len(VAL_WRITE),
    ("test_wr_scanner.py", "test_comp_wr_scan_1d"): len(CRD_WRITE),
    ("test_wr_scanner.py", "test_comp_wr_scan_direct"): len(CRD_WRITE_2D),
    ("test_array.py", "test_arr_store_1d"): len(ARRAY_STORE),
    ("test_crdpt_converter.py", "test_crdpt_converter_direct[last_level=True]"): 3,
    ("test_crdpt_converter.py", "test_crdpt_converter_direct[last_level=False]"): len(
        CRDPT_CONVERT
    ),
    ("test_spcrdpt_accumulator.py", "test_spcrdpt1_accum_direct"): len(CRDPT_ACC1),
    ("test_spcrdpt_accumulator.py", "test_spcrdpt2_accum_direct"): len(CRDPT_ACC2),
    ("test_spacc.py", "test_spacc1_direct"): 1,
    ("test_spacc.py", "test_spacc2_direct"): 2,
    ("test_bv_drop.py", "test_bv_drop_nd"): len(BV_DROP),
    ("test_intersectbv.py", "test_intersectbv_direct"): len(INTERSECT_BV),
    ("test_bv_rd_scanner.py", "test_rd_scan_bv_direct_nd"): len(SCAN_BV),
}

NOT_EXPRESSIBLE: dict[tuple[str, str], tuple[int, str]] = {
    ("test_rd_scanner.py", "test_rd_scan_direct_c_skip_nd"): (
        7,
        "the compressed scanner's crd-skip input (skip ahead to a coordinate) is not modelled",
    ),
    ("test_intersect.py", "test_intersect_direct_skip"): (
        1,
        "the intersecter's crd-skip outputs (feeding a scanner's skip input) are not modelled",
    ),
    ("test_memory_block.py", "test_memory_block"): (
        5,
        "a tiled on-chip memory block (GLB tiles from a YAML memory config), not a token primitive",
    ),
    ("test_memory_block.py", "test_memory_block_nbuffer"): (
        5,
        "a tiled on-chip memory block with n-buffering, not a token primitive",
    ),
    ("test_reduce.py", "test_reduce_random_2d"): (4, "skipped by SAM itself (pytest.mark.skip)"),
}
