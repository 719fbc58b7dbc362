/*
 * diag.c - the diagnostic list.  Recording a diagnostic can itself run out
 * of memory; that is remembered in dl->oom (and counts as an error) rather
 * than lost, so a failing compilation never looks successful.
 */
#include "compiler/util/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/util/xalloc.h"

void diag_list_init(diag_list *dl) { memset(dl, 0, sizeof *dl); }

void diag_list_free(diag_list *dl) {
  for (size_t i = 0; i < dl->count; i++) {
    free(dl->items[i].file);
    free(dl->items[i].message);
    free(dl->items[i].hint);
  }
  free(dl->items);
  memset(dl, 0, sizeof *dl);
}

/* vsnprintf into a fresh buffer; NULL when out of memory. */
static char *diag_vformat(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

static void diag_vadd(diag_list *dl, diag_severity sev, const char *file, long long line,
                      long long col, const char *fmt, va_list ap) {
  if (sev == DIAG_SEVERITY_ERROR) dl->errors++;
  if (dl->count == dl->cap) {
    size_t cap = dl->cap ? dl->cap * 2 : 8;
    diag *items = dl->items;
    size_t bytes;
    if (size_mul_overflow(cap, sizeof *items, &bytes) || !(items = realloc(items, bytes))) {
      dl->oom = 1;
      return;
    }
    dl->items = items;
    dl->cap = cap;
  }
  diag *d = &dl->items[dl->count];
  memset(d, 0, sizeof *d);
  d->severity = sev;
  d->line = line;
  d->col = col;
  d->message = diag_vformat(fmt, ap);
  if (file) d->file = xstrdup(file);
  if (!d->message || (file && !d->file)) {
    free(d->message);
    free(d->file);
    dl->oom = 1;
    return;
  }
  dl->count++;
}

void diag_error(diag_list *dl, const char *file, long long line, long long col, const char *fmt,
                ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_vadd(dl, DIAG_SEVERITY_ERROR, file, line, col, fmt, ap);
  va_end(ap);
}

void diag_warning(diag_list *dl, const char *file, long long line, long long col, const char *fmt,
                  ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_vadd(dl, DIAG_SEVERITY_WARNING, file, line, col, fmt, ap);
  va_end(ap);
}

void diag_hint(diag_list *dl, const char *fmt, ...) {
  if (dl->count == 0) return;
  diag *d = &dl->items[dl->count - 1];
  va_list ap;
  va_start(ap, fmt);
  char *h = diag_vformat(fmt, ap);
  va_end(ap);
  if (!h) {
    dl->oom = 1;
    return;
  }
  free(d->hint);
  d->hint = h;
}

int diag_has_errors(const diag_list *dl) { return dl->errors > 0 || dl->oom; }

void diag_print(const diag_list *dl, FILE *out) {
  for (size_t i = 0; i < dl->count; i++) {
    const diag *d = &dl->items[i];
    if (d->file) {
      fputs(d->file, out);
      if (d->line > 0) {
        fprintf(out, ":%lld", d->line);
        if (d->col > 0) fprintf(out, ":%lld", d->col);
      }
      fputs(": ", out);
    }
    fprintf(out, "%s: %s\n", d->severity == DIAG_SEVERITY_ERROR ? "error" : "warning", d->message);
    if (d->hint) fprintf(out, "  hint: %s\n", d->hint);
  }
  if (dl->oom) fputs("error: out of memory while recording diagnostics; some are missing\n", out);
}

/* Levenshtein distance, capped: anything above `limit` returns limit + 1.
 * Two rows of the DP table; names here are short (keys, layer names), and
 * longer ones are bounded by the early length check in diag_suggest. */
static size_t diag_edit_distance(const char *a, const char *b, size_t limit) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 256 || lb > 256) return limit + 1;
  size_t row0[257], row1[257];
  size_t *prev = row0, *cur = row1;
  for (size_t j = 0; j <= lb; j++) prev[j] = j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    size_t best = cur[0];
    for (size_t j = 1; j <= lb; j++) {
      size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
      size_t v = sub < del ? sub : del;
      cur[j] = v < ins ? v : ins;
      if (cur[j] < best) best = cur[j];
    }
    if (best > limit) return limit + 1;
    size_t *t = prev;
    prev = cur;
    cur = t;
  }
  return prev[lb] <= limit ? prev[lb] : limit + 1;
}

const char *diag_suggest(const char *word, const char *const *candidates, size_t n) {
  size_t len = strlen(word);
  size_t limit = len / 3 > 1 ? len / 3 : 1;
  const char *best = NULL;
  size_t best_d = limit + 1;
  for (size_t i = 0; i < n; i++) {
    if (!candidates[i]) continue;
    size_t clen = strlen(candidates[i]);
    if ((clen > len ? clen - len : len - clen) > limit) continue;
    size_t d = diag_edit_distance(word, candidates[i], limit);
    if (d < best_d) {
      best_d = d;
      best = candidates[i];
    }
  }
  return best;
}
