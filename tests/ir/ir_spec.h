/*
 * ir_spec.h - model specs built directly in C for the IR tests, so that
 * lowering is tested without the YAML front end.  Every spec made here is
 * released with spec_free (all its parts are malloc'd as spec_load's are).
 *
 *     model_spec s;
 *     irt_spec_exact(&s, "g1", 1, 1, (double[]){1}, (double[]){1.5}, (double[]){0.3}, 200);
 *     ... lower_model(&s, NULL, &m, &dl) ...
 *     spec_free(&s);
 */
#ifndef PMMC_TESTS_IR_SPEC_H
#define PMMC_TESTS_IR_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "compiler/front/spec.h"

/* Normal-Normal, prior N(0, 1), geometric schedule A_1 = 0.01 .. A_T = 1e4,
 * pmm sampler, posterior-mean output, exact mixture of k components over
 * data shape [dim] (means: k rows of dim). */
void irt_spec_exact(model_spec *s, const char *name, uint32_t dim, size_t k, const double *weight,
                    const double *mean, const double *std, uint32_t steps);

/* The same header with an empty graph network; add layers below. */
void irt_spec_graph(model_spec *s, const char *name, uint32_t dim, uint32_t steps);

/* Append a layer; inputs is a space-separated list of names. */
spec_layer *irt_spec_layer(model_spec *s, const char *name, spec_layer_op op, const char *inputs);

/* Add a tensor with deterministic pseudo-random values in [-scale, scale]
 * (a fixed LCG stream starting from `salt`). */
void irt_spec_tensor(model_spec *s, const char *name, uint32_t rank, const uint64_t *shape,
                     double scale, uint32_t salt);

/* Switch s to gamma-poisson with prior Gamma(shape, rate). */
void irt_spec_gamma(model_spec *s, double shape, double rate);

/* Switch s to dirichlet-categorical over the ASCII symbols of `vocab` (the
 * first is padding when pad is nonzero), with prior concentration beta and
 * smoothing eps; the data shape [L] set by the constructor is kept. */
void irt_spec_categorical(model_spec *s, const char *vocab, int pad, double beta, double eps);

/* Make s's network an exact atom set of k rows of data_elems values
 * (copied; symbol indices for categorical), weights NULL for uniform
 * (otherwise normalised here, as the front end does). */
void irt_spec_atoms(model_spec *s, size_t k, const float *values, const double *weights);

/* The schedule's A_1..A_T recomputed here from the geometric formula. */
double irt_geometric(uint32_t t, uint32_t steps);

#endif
