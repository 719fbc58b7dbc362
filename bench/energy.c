/*
 * energy.c - energy distance of 2-D samples to a ring-of-Gaussians target,
 * and its noise floor: bench/schedules' measure of sample quality
 * (docs/schedules.md).
 *
 *     bench/energy [--sets R] [--target-seed S] [--components K] [--radius r]
 *                  [--std s] [--a-final A_T] [--prior-precision l0] SAMPLES.npy
 *
 * SAMPLES.npy holds n >= R samples of shape [2] (a sampler's output).  The
 * target is the law of a perfect Normal-Normal PMM sampler's output mu_T for
 * data sum_k (1/K) N(m_k, s^2 I), m_k = r (cos 2 pi k/K, sin 2 pi k/K), prior
 * mean 0 and precision l0: component k is N(c m_k, c^2 (s^2 + 1/A_T) I),
 * c = A_T / (l0 + A_T) (tests/e2e/test_energy.c derives it).  Defaults: the
 * gmm8 model (K = 8, r = 2, s = 0.1, A_T = 1e4, l0 = 1).
 *
 * The samples are cut into R sets of N = floor(n / R).  Set j is compared with
 * a fresh target set Y_j of N points, and the floor is the distance between
 * another target set P_j of N points and Y_j; both are averaged over the R
 * sets.  Energy distance is the V-statistic
 *     2/(N M) sum |x - y| - 1/N^2 sum |x - x'| - 1/M^2 sum |y - y'|
 * whose mean for two sets from the same law is E|X - X'| (1/N + 1/M): the
 * floor.  Target points come from splitmix64 with the target seed (same seed,
 * same target sets), normals by Box-Muller.
 *
 * Energy distance at these sizes sees mode weights and positions but hardly
 * the width of a component (docs/schedules.md), so the program also prints
 * W, the pooled per-coordinate standard deviation of the samples around
 * their nearest target mode c m_k divided by the target's c (s^2 + 1/A_T)^(1/2):
 * 1 for a perfect sampler.
 *
 * Prints one line: "energy E floor F width W sets R size N".  Exit status 0,
 * 1 if the file cannot be read or is too small, 2 for a usage error.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/energy_distance.h"
#include "runtime/pmmrt.h"

typedef struct energy_target {
  unsigned components;
  double radius, std, a_final, prior_precision;
} energy_target;

static uint64_t energy_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double energy_uniform(uint64_t *state) {
  return ((double)(energy_splitmix64(state) >> 11) + 0.5) * 0x1p-53;
}

/* n target points into x[2 n]. */
static void energy_draw_target(const energy_target *t, uint64_t *state, size_t n, double *x) {
  const double c = t->a_final / (t->prior_precision + t->a_final);
  const double sd = c * sqrt(t->std * t->std + 1.0 / t->a_final);
  for (size_t i = 0; i < n; i++) {
    unsigned k = (unsigned)(energy_uniform(state) * t->components);
    if (k >= t->components) k = t->components - 1;
    double u1 = energy_uniform(state), u2 = energy_uniform(state);
    double rad = sqrt(-2.0 * log(u1)), ang = 2.0 * M_PI * u2;
    double phi = 2.0 * M_PI * k / t->components;
    x[2 * i] = c * t->radius * cos(phi) + sd * rad * cos(ang);
    x[2 * i + 1] = c * t->radius * sin(phi) + sd * rad * sin(ang);
  }
}

/* Pooled standard deviation of the n points around their nearest mode,
 * relative to the target component's. */
static double energy_width(const energy_target *t, const float *x, size_t n) {
  const double c = t->a_final / (t->prior_precision + t->a_final);
  const double sd = c * sqrt(t->std * t->std + 1.0 / t->a_final);
  double ss = 0.0;
  for (size_t i = 0; i < n; i++) {
    double best = INFINITY;
    for (unsigned k = 0; k < t->components; k++) {
      double phi = 2.0 * M_PI * k / t->components;
      double dx = x[2 * i] - c * t->radius * cos(phi), dy = x[2 * i + 1] - c * t->radius * sin(phi);
      if (dx * dx + dy * dy < best) best = dx * dx + dy * dy;
    }
    ss += best;
  }
  return sqrt(ss / (2.0 * (double)n)) / sd;
}

static int energy_usage(void) {
  fprintf(stderr, "usage: bench/energy [--sets R] [--target-seed S] [--components K] "
                  "[--radius r] [--std s] [--a-final A_T] [--prior-precision l0] "
                  "SAMPLES.npy\n");
  return 2;
}

/* A positive finite number from argv, or -1 on error. */
static int energy_parse_positive(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v <= 0.0) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  energy_target t = {8, 2.0, 0.1, 1e4, 1.0};
  double sets_d = 8.0, comps_d = 8.0;
  uint64_t seed = 1;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') {
      if (path) return energy_usage();
      path = a;
      continue;
    }
    if (i + 1 >= argc) return energy_usage();
    const char *v = argv[++i];
    int bad = 0;
    if (strcmp(a, "--sets") == 0)
      bad = energy_parse_positive(v, &sets_d) || sets_d != floor(sets_d) || sets_d > 1e6;
    else if (strcmp(a, "--components") == 0)
      bad = energy_parse_positive(v, &comps_d) || comps_d != floor(comps_d) || comps_d > 1e6;
    else if (strcmp(a, "--radius") == 0)
      bad = energy_parse_positive(v, &t.radius);
    else if (strcmp(a, "--std") == 0)
      bad = energy_parse_positive(v, &t.std);
    else if (strcmp(a, "--a-final") == 0)
      bad = energy_parse_positive(v, &t.a_final);
    else if (strcmp(a, "--prior-precision") == 0)
      bad = energy_parse_positive(v, &t.prior_precision);
    else if (strcmp(a, "--target-seed") == 0) {
      char *end;
      errno = 0;
      unsigned long long s = strtoull(v, &end, 10);
      bad = errno || end == v || *end || v[0] == '-';
      seed = s;
    } else
      bad = 1;
    if (bad) {
      fprintf(stderr, "bench/energy: bad value '%s' for %s\n", v, a);
      return energy_usage();
    }
  }
  if (!path) return energy_usage();
  t.components = (unsigned)comps_d;
  size_t sets = (size_t)sets_d;

  pmm_array s;
  char err[512];
  if (pmm_npy_read(path, &s, err, sizeof err) != PMM_OK) {
    fprintf(stderr, "bench/energy: %s\n", err);
    return 1;
  }
  size_t n = s.rank >= 1 ? (size_t)s.shape[0] : 0, per = n / sets;
  if (s.rank != 2 || s.shape[1] != 2 || per < 2) {
    fprintf(stderr, "bench/energy: %s: expected samples of shape [n, 2] with n >= 2 x %zu sets\n",
            path, sets);
    pmm_array_free(&s);
    return 1;
  }
  double *x = malloc(2 * per * sizeof *x), *y = malloc(2 * per * sizeof *y),
         *p = malloc(2 * per * sizeof *p);
  if (!x || !y || !p) {
    fprintf(stderr, "bench/energy: out of memory\n");
    free(x);
    free(y);
    free(p);
    pmm_array_free(&s);
    return 1;
  }
  uint64_t state = seed;
  double model = 0.0, floor_ = 0.0;
  int finite = 1;
  for (size_t j = 0; j < sets; j++) {
    for (size_t i = 0; i < 2 * per; i++) {
      x[i] = s.data[j * 2 * per + i];
      finite &= isfinite(x[i]) != 0;
    }
    energy_draw_target(&t, &state, per, y);
    energy_draw_target(&t, &state, per, p);
    double yw = energy_mean_within(y, per);
    model += energy_distance(x, per, y, per, yw) / sets;
    floor_ += energy_distance(p, per, y, per, yw) / sets;
  }
  /* Non-finite samples would poison the mean silently: report them as infinitely far. */
  printf("energy %.6g floor %.6g width %.4f sets %zu size %zu\n", finite ? model : INFINITY, floor_,
         finite ? energy_width(&t, s.data, sets * per) : INFINITY, sets, per);
  free(x);
  free(y);
  free(p);
  pmm_array_free(&s);
  return 0;
}
