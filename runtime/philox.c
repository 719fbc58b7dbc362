/*
 * philox.c - Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11), the key derivation and the
 * bits-to-uniform map.
 *
 * Philox is a counter-based generator: the output is a keyed bijection of
 * the counter, so sample i's noise at step t is recomputable without
 * generating anything before it.  This is what lets blocks and threads run
 * in any order and still give identical bits.
 */
#include "runtime/pmmrt.h"

/* Round multipliers and Weyl key increments of Philox4x32 (the paper's
 * constants; the increments are the golden ratio and sqrt(3) - 1 in 0.32
 * fixed point). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void pmm_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    if (round > 0) {
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* splitmix64's finaliser (Steele, Lea, Flood 2014): a bijection on 64 bits
 * with full avalanche, so nearby seeds give unrelated keys. */
static uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15u;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

/* key = splitmix64(splitmix64(seed) + stream), low word first.  For a fixed
 * stream distinct seeds give distinct keys (both steps are bijections), and
 * likewise for distinct streams under one seed. */
void pmm_rng_key(uint64_t seed, uint32_t stream, uint32_t key[2]) {
  uint64_t z = splitmix64(splitmix64(seed) + stream);
  key[0] = (uint32_t)z;
  key[1] = (uint32_t)(z >> 32);
}

double pmm_uniform_from_u32(uint32_t u) { return ((double)u + 0.5) * (1.0 / 4294967296.0); }
