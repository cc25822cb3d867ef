"""Pure-Python twin of semiseg's counter-based generator (src/core/rng.c).

Imported by the fixture scripts that must reproduce numbers semiseg draws
(parameter initialisation, dropout masks); not run on its own beyond the
known-answer asserts below. Matches, bit for bit:
  sg_philox4x32_10  Philox4x32-10 (Salmon et al. SC'11; Random123 philox.h)
  sg_rng_stream     kind << 56 | a << 32 | b
  sg_rng_u32        key = seed (low, high words); counter words 0-1 = block
                    index, words 2-3 = stream; four words per block in order
  sg_rng_uniform    (u32 >> 8) / 2^24, as a float
  sg_rng_normal     Box-Muller in double on u1 = ((u32 >> 8) + 1) / 2^24,
                    u2 = (u32 >> 8) / 2^24, rounded to float
The double arithmetic (math.log, math.cos, math.sqrt) is the same IEEE
operations and the same libm as the C code, so results agree exactly.
"""
import math
import struct

M32 = 0xFFFFFFFF

# Stream kinds of enum sg_rng_kind (include/semiseg/rng.h).
SG_RNG_INIT = 1
SG_RNG_DROPOUT = 4
SG_RNG_TEST = 200


def philox4x32_10(ctr, key):
    """Philox4x32-10 block function."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        hi0, lo0 = p0 >> 32, p0 & M32
        hi1, lo1 = p1 >> 32, p1 & M32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + 0x9E3779B9) & M32
        k1 = (k1 + 0xBB67AE85) & M32
    return [c0, c1, c2, c3]


# Random123 known-answer vectors (kat_vectors, philox4x32_10).
assert philox4x32_10([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
assert philox4x32_10([M32] * 4, [M32] * 2) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
assert philox4x32_10([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
                     [0xA4093822, 0x299F31D0]) == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def f32(v):
    """Round a Python float (double) to the nearest float32, as a C cast does."""
    return struct.unpack("<f", struct.pack("<f", v))[0]


def stream(kind, a, b):
    """sg_rng_stream(kind, a, b)."""
    assert 0 <= kind < 256 and 0 <= a < (1 << 24) and 0 <= b < (1 << 32)
    return (kind << 56) | (a << 32) | b


class Rng:
    """sg_rng: a sequential reader of the (seed, stream) sequence."""

    def __init__(self, seed, strm):
        self.key = [seed & M32, (seed >> 32) & M32]
        self.stream = strm
        self.counter = 0
        self.block = []

    def u32(self):
        if not self.block:
            ctr = [self.counter & M32, (self.counter >> 32) & M32,
                   self.stream & M32, (self.stream >> 32) & M32]
            self.block = philox4x32_10(ctr, self.key)[::-1]
            self.counter += 1
        return self.block.pop()

    def uniform(self):
        """sg_rng_uniform: exact in float32 (24 random bits)."""
        return (self.u32() >> 8) / 16777216.0

    def normal(self):
        """sg_rng_normal."""
        u1 = ((self.u32() >> 8) + 1.0) / 16777216.0
        u2 = (self.u32() >> 8) / 16777216.0
        return f32(math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2))


def uniforms(seed, strm, n):
    """The first n sg_rng_uniform draws of sg_rng_init(seed, strm)."""
    r = Rng(seed, strm)
    return [r.uniform() for _ in range(n)]
