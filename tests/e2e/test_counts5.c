/*
 * test_counts5.c - models/counts5 end to end: the compiled Gamma-Poisson
 * sampler with an exact network over five count vectors must reproduce them.
 *
 * What the samples should look like.  The data distribution is
 * sum_k w_k delta(x_k) with the atoms and weights of models/counts5
 * (atoms.npy, atom_weights.npy; read here, not copied).  The output is the
 * posterior mean mu_T = (a0 + S_T) / (b0 + A_T); once the chain has chosen
 * atom x, S_T is x's counts, Poisson(A_T x) up to the few counts drawn before
 * the choice, so per coordinate mu_T - x has standard deviation
 * sqrt(x / A_T) <= sqrt(9 / 1e5) = 0.0095 and bias (a0 - b0 x) / (b0 + A_T)
 * of at most 1e-4 (a0 = b0 = 1, A_T = 1e5).  Rounding mu_T therefore gives the
 * atom back; a double-precision simulation of the chain (100,000 samples) had
 * no coordinate farther than 0.046 from its atom.
 *
 * Tolerances (n = 20,000, compiled sampler, seed printed):
 *  - every value finite and within ROUND_TOL = 0.2 of an integer (20 standard
 *    deviations; rounding itself only needs 0.5, the tighter bound catches a
 *    mis-scaled posterior mean such as a_T / A_T);
 *  - every rounded row is one of the five atoms;
 *  - atom frequencies: Pearson chi-square against the weights, p > 0.001.
 *    The simulation gave p = 0.44 at 100,000 samples, so the discretisation
 *    bias of 1000 steps is invisible at 20,000.
 *  - non-vacuity: every atom occurs (expected counts are 2,000..6,000).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/e2e.h"

#define N_SAMPLES 20000
#define SEED 5551212ULL
#define ROUND_TOL 0.2

static e2e_env env;
static char yaml[PATH_MAX], sampler[PATH_MAX];
static int build_status = -1;

/* Atoms [k, D] and normalised weights [k] from the model folder. */
static void load_atoms(pmm_array *atoms, double **weights) {
  char path[PATH_MAX];
  e2e_path(path, sizeof path, "%s/models/counts5/atoms.npy", tu_srcdir());
  tu_read_npy(path, atoms);
  ck_assert_msg(atoms->rank == 2 && atoms->shape[0] == 5,
                "%s: expected 5 atoms (rank 2), got rank %u", path, (unsigned)atoms->rank);
  pmm_array w;
  e2e_path(path, sizeof path, "%s/models/counts5/atom_weights.npy", tu_srcdir());
  tu_read_npy(path, &w);
  ck_assert_msg(w.rank == 1 && w.shape[0] == atoms->shape[0], "%s: expected [%llu] weights", path,
                (unsigned long long)atoms->shape[0]);
  double *p = malloc(w.count * sizeof *p), sum = 0.0;
  ck_assert_msg(p != NULL, "out of memory");
  for (uint64_t k = 0; k < w.count; k++) sum += w.data[k];
  for (uint64_t k = 0; k < w.count; k++) p[k] = w.data[k] / sum;
  pmm_array_free(&w);
  *weights = p;
}

START_TEST(test_model_constants) {
  char *text = tu_read_file(yaml, NULL);
  ck_assert_msg(text != NULL, "cannot read %s", yaml);
  const char *expect[] = {"pair: gamma-poisson", "shape: 1.0",  "rate: 1.0",
                          "end: 100000",         "steps: 1000", "output: posterior-mean",
                          "kind: exact"};
  for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
    ck_assert_msg(strstr(text, expect[i]) != NULL,
                  "%s no longer contains '%s': update test_counts5's reasoning", yaml, expect[i]);
  free(text);
}
END_TEST

START_TEST(test_compiled) {
  ck_assert_msg(build_status == 0, "pmmc build of %s failed with status %d", yaml, build_status);
  pmm_array atoms;
  double *weights;
  load_atoms(&atoms, &weights);
  const uint64_t k = atoms.shape[0], dim = atoms.shape[1];
  ck_assert_msg(dim >= 1 && dim <= 3, "counts5 atoms have %llu coordinates, the test prints 3",
                (unsigned long long)dim);

  char out[PATH_MAX];
  e2e_path(out, sizeof out, "%s/counts5.npy", env.dir);
  printf("compiled counts5: seed %llu, %d samples\n", SEED, N_SAMPLES);
  int st = tu_run("'%s' -n %d --seed %llu --threads 2 -o '%s'", sampler, N_SAMPLES, SEED, out);
  ck_assert_msg(st == 0, "compiled counts5 sampler exited with %d", st);
  e2e_npy s;
  e2e_npy_load(out, N_SAMPLES, dim, &s);

  uint64_t count[5] = {0};
  double worst = 0.0;
  for (size_t i = 0; i < N_SAMPLES; i++) {
    const float *row = s.a.data + i * dim;
    for (uint64_t d = 0; d < dim; d++) {
      double v = row[d], err = fabs(v - nearbyint(v));
      ck_assert_msg(isfinite(v), "seed %llu: sample %zu coordinate %llu is not finite", SEED, i,
                    (unsigned long long)d);
      ck_assert_msg(err <= ROUND_TOL,
                    "seed %llu: sample %zu coordinate %llu = %.6f is %.4f from an integer "
                    "(tolerance %.2f)",
                    SEED, i, (unsigned long long)d, v, err, ROUND_TOL);
      if (err > worst) worst = err;
    }
    uint64_t which = k;
    for (uint64_t a = 0; a < k && which == k; a++) {
      uint64_t d = 0;
      while (d < dim && nearbyint(row[d]) == atoms.data[a * dim + d]) d++;
      if (d == dim) which = a;
    }
    ck_assert_msg(which<k, "seed %llu: sample %zu rounds to (%g, %g, %g), not an atom", SEED, i,
                        nearbyint(row[0]), dim> 1
                      ? nearbyint(row[1])
                      : 0.0,
                  dim > 2 ? nearbyint(row[2]) : 0.0);
    count[which]++;
  }
  double pval = tu_chisq_pvalue(count, weights, k);
  printf("seed %llu: largest distance to an integer %.4f; atom counts", SEED, worst);
  for (uint64_t a = 0; a < k; a++)
    printf(" %llu (expected %.0f)", (unsigned long long)count[a], weights[a] * N_SAMPLES);
  printf("; chi-square p = %.4g\n", pval);
  for (uint64_t a = 0; a < k; a++)
    ck_assert_msg(count[a] > 0, "seed %llu: atom %llu never sampled", SEED, (unsigned long long)a);
  ck_assert_msg(pval > 0.001,
                "seed %llu: atom frequencies fail chi-square against the weights: p = %.3g <= "
                "0.001",
                SEED, pval);
  e2e_npy_free(&s);
  pmm_array_free(&atoms);
  free(weights);
}
END_TEST

int main(void) {
  if (e2e_env_init(&env, "counts5") != 0 || e2e_model_yaml("counts5", yaml, sizeof yaml) != 0)
    return EXIT_FAILURE;
  build_status = e2e_build(yaml, "", env.dir, "counts5", sampler, sizeof sampler);

  Suite *s = suite_create("e2e_counts5");
  TCase *tc = tcase_create("counts5");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_model_constants);
  tcase_add_test(tc, test_compiled);
  suite_add_tcase(s, tc);
  int failed = tu_run_suite(s);
  e2e_env_finish(&env, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
