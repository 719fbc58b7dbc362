/*
 * embed_api.h - private to the back end: the functions a library built with
 * --emit=lib|shared exports, one table for both of their faces: the LLVM
 * wrappers that call the runtime (library.c) and the prototypes of the
 * generated header (header.c).
 *
 * In templates, "{p}" stands for the prefix (gmm8) and "{P}" for its upper
 * case (GMM8).  `kinds` spells the LLVM signature: its first letter the
 * return, the rest the parameters after the runtime's leading
 * `const pmm_embed_def *`: v void, p pointer, z size_t, l uint64_t,
 * u uint32_t, i int32_t.
 */
#ifndef PMMC_CODEGEN_EMBED_API_H
#define PMMC_CODEGEN_EMBED_API_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/embed.h"

typedef struct embed_api_fn {
  const char *suffix; /* NAME_<suffix>, calling pmm_embed_<suffix> */
  const char *kinds;
  const char *ret;    /* C return type (template) */
  const char *params; /* C parameter list (template) */
  const char *doc;    /* the header's comment above the prototype (template) */
} embed_api_fn;

const embed_api_fn *embed_api_list(size_t *n);

/* s with {p} and {P} replaced by prefix and its upper case, malloc'd;
 * NULL when out of memory. */
char *embed_expand(const char *s, const char *prefix);

/* Everything the header and the library's pmm_embed_def state about one
 * build (embed_facts_init fills it from the IR modules). */
typedef struct embed_facts {
  pmm_model_desc desc; /* the sampler's, as ir_describe gives it */
  const char *prefix;  /* C identifier of the exported names */
  const char *target;  /* triple */
  char build_id[17];   /* 64-bit FNV-1a of all of the above, hex */
  int has_predict;
  int weights_external; /* --weights=external */
  uint64_t predict_in_elems, predict_out_elems, predict_scratch_bytes, predict_state_offset;
  uint64_t workspace_bytes;
} embed_facts;

/* Write the C header of a library with these facts; 0 or -1 (stdio error). */
int embed_write_header(FILE *f, const embed_facts *x);

/* Write its pkg-config file; libs_private lists the libraries a static
 * link needs.  0 or -1. */
int embed_write_pc(FILE *f, const embed_facts *x, const char *version, const char *libs_private);

#endif
