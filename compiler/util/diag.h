/*
 * diag.h - diagnostics: the compiler's errors are values collected here.
 *
 *     diag_list dl;
 *     diag_list_init(&dl);
 *     diag_error(&dl, "model.yaml", 3, 5, "unknown key 'shapes' in 'data'");
 *     diag_hint(&dl, "did you mean 'shape'?");
 *     if (diag_has_errors(&dl)) diag_print(&dl, stderr);
 *     diag_list_free(&dl);
 *
 * Printed form (one error, optional hint line):
 *     model.yaml:3:5: error: unknown key 'shapes' in 'data'
 *       hint: did you mean 'shape'?
 * line/col are 1-based; 0 means "unknown" and is omitted ("model.yaml: error: ...").
 */
#ifndef PMMC_DIAG_H
#define PMMC_DIAG_H

#include <stddef.h>
#include <stdio.h>

typedef enum diag_severity { DIAG_SEVERITY_ERROR, DIAG_SEVERITY_WARNING } diag_severity;

typedef struct diag {
  diag_severity severity;
  char *file;          /* may be NULL */
  long long line, col; /* an atoms file may have more than 2^31 lines */
  char *message;
  char *hint; /* may be NULL */
} diag;

typedef struct diag_list {
  diag *items;
  size_t count, cap;
  size_t errors;
  int oom; /* set when a diagnostic could not be recorded */
} diag_list;

void diag_list_init(diag_list *dl);
void diag_list_free(diag_list *dl);

void diag_error(diag_list *dl, const char *file, long long line, long long col, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
void diag_warning(diag_list *dl, const char *file, long long line, long long col, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));
/* Attach a hint to the most recent diagnostic. */
void diag_hint(diag_list *dl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int diag_has_errors(const diag_list *dl);
void diag_print(const diag_list *dl, FILE *out);

/* The candidate closest to `word` by edit distance, if close enough to be a
 * plausible typo (distance <= max(1, strlen(word) / 3)); NULL otherwise. */
const char *diag_suggest(const char *word, const char *const *candidates, size_t n);

#endif
