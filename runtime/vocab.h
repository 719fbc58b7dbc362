/*
 * vocab.h - internal to the runtime: a categorical model's vocabulary
 * (desc->vocab, one UTF-8 code point per symbol) for `--format txt` and
 * --info.
 *
 *     cli_vocab v;
 *     if (vocab_init(&v, desc, err, sizeof err) != 0) ... inconsistent descriptor
 *     vocab_write_line(&v, stdout, sample, desc->sample_elems, &bad);
 *     vocab_free(&v);
 */
#ifndef PMMRT_VOCAB_H
#define PMMRT_VOCAB_H

#include <stdio.h>

#include "runtime/pmmrt.h"

typedef struct cli_vocab {
  const char *text;
  uint64_t k;    /* symbols */
  size_t *start; /* [k + 1]: symbol i is text[start[i] .. start[i + 1]) */
  int64_t pad;   /* padding symbol, -1 for none */
} cli_vocab;

/* Split d->vocab into symbols and check it against d->vocab_size and
 * d->pad_symbol.  -1 with a message if they disagree, the text is not
 * UTF-8, or memory runs out. */
int vocab_init(cli_vocab *v, const pmm_model_desc *d, char *err, size_t errlen);
void vocab_free(cli_vocab *v);

/* Write symbol i's bytes to f. */
int vocab_put(const cli_vocab *v, FILE *f, uint64_t i);

/* One sample of n symbol indices as a line: the symbols' text, trailing
 * padding symbols dropped, then '\n'.  Returns 0, -1 on a write error, or
 * 1 if x[*bad] is not a symbol index (nothing written then). */
int vocab_write_line(const cli_vocab *v, FILE *f, const float *x, size_t n, size_t *bad);

#endif
