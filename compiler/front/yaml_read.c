/*
 * yaml_read.c - typed, located access to a libyaml document.  All value
 * errors go through front_expected so every message has the same shape:
 * "found <what was there> for <what>, expected <what is allowed>".
 *
 * Numbers follow the YAML 1.2 core schema and must be plain (unquoted)
 * scalars: `steps: "5"` is a string, and saying so is clearer than guessing.
 */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/front.h"
#include "compiler/util/xalloc.h"

yaml_node_t *front_node(const front_ctx *c, int id) { return yaml_document_get_node(c->doc, id); }

spec_loc front_loc(const yaml_node_t *n) {
  spec_loc l = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
  return l;
}

void front_error(front_ctx *c, spec_loc loc, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(c->dl, c->file, loc.line, loc.col, "%s", msg);
}

static int front_is_null(const yaml_node_t *n) {
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
  const char *v = (const char *)n->data.scalar.value;
  return n->data.scalar.length == 0 || !strcmp(v, "~") || !strcmp(v, "null") ||
         !strcmp(v, "Null") || !strcmp(v, "NULL");
}

const char *front_describe(const yaml_node_t *n, char *buf, size_t len) {
  switch (n->type) {
  case YAML_MAPPING_NODE:
    return n->data.mapping.pairs.top == n->data.mapping.pairs.start ? "an empty mapping"
                                                                    : "a mapping";
  case YAML_SEQUENCE_NODE:
    return n->data.sequence.items.top == n->data.sequence.items.start ? "an empty sequence"
                                                                      : "a sequence";
  case YAML_SCALAR_NODE: break;
  default: return "nothing";
  }
  if (front_is_null(n)) return "an empty value";
  /* Quote a sanitised prefix of the text so control characters and very
   * long values cannot garble the message. */
  char text[48];
  size_t n_in = n->data.scalar.length, k = 0;
  for (size_t i = 0; i < n_in && k < 40; i++) {
    unsigned char ch = n->data.scalar.value[i];
    text[k++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
  }
  text[k] = '\0';
  int quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
               n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
  snprintf(buf, len, "%s'%s%s'", quoted ? "the quoted string " : "", text, n_in > k ? "..." : "");
  return buf;
}

void front_expected(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect) {
  char buf[96];
  front_error(c, front_loc(n), "found %s for %s, expected %s", front_describe(n, buf, sizeof buf),
              what, expect);
}

const char *front_scalar(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect) {
  if (n->type != YAML_SCALAR_NODE || front_is_null(n) ||
      strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
    front_expected(c, n, what, expect);
    return NULL;
  }
  return (const char *)n->data.scalar.value;
}

const char *front_join(const char *const *names, size_t n, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && used < len; i++) {
    const char *sep = i == 0 ? "" : (i + 1 == n ? " or " : ", ");
    int w = snprintf(buf + used, len - used, "%s%s", sep, names[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
  return buf;
}

static const char *front_key_text(const yaml_node_t *k) {
  if (k->type != YAML_SCALAR_NODE ||
      strlen((const char *)k->data.scalar.value) != k->data.scalar.length)
    return NULL;
  return (const char *)k->data.scalar.value;
}

int front_check_keys_known(front_ctx *c, const yaml_node_t *map, const char *what,
                           const char *where, const char *const *allowed, size_t n,
                           const char *const *known, size_t nknown) {
  if (map->type != YAML_MAPPING_NODE) {
    front_expected(c, map, what, "a mapping");
    return 1;
  }
  int errors = 0;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = front_node(c, p->key);
    const char *name = front_key_text(k);
    if (!name) {
      char buf[96];
      front_error(c, front_loc(k), "found %s as a key %s, expected a key name",
                  front_describe(k, buf, sizeof buf), where);
      errors++;
      continue;
    }
    int ok = 0;
    for (size_t i = 0; i < n && !ok; i++) ok = !strcmp(allowed[i], name);
    for (size_t i = 0; i < nknown && !ok; i++) ok = !strcmp(known[i], name);
    if (!ok) {
      front_error(c, front_loc(k), "unknown key '%s' %s", name, where);
      const char *s = diag_suggest(name, allowed, n);
      char list[512];
      if (s)
        diag_hint(c->dl, "did you mean '%s'?", s);
      else if (n == 1)
        diag_hint(c->dl, "the only key allowed here is '%s'", allowed[0]);
      else
        diag_hint(c->dl, "allowed keys here: %s", front_join(allowed, n, list, sizeof list));
      errors++;
      continue;
    }
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
      yaml_node_t *k0 = front_node(c, q->key);
      const char *name0 = front_key_text(k0);
      if (name0 && !strcmp(name0, name)) {
        spec_loc l0 = front_loc(k0);
        front_error(c, front_loc(k), "duplicate key '%s' %s", name, where);
        diag_hint(c->dl, "'%s' was first given at line %d, column %d", name, l0.line, l0.col);
        errors++;
        break;
      }
    }
  }
  return errors;
}

int front_check_keys(front_ctx *c, const yaml_node_t *map, const char *what, const char *where,
                     const char *const *allowed, size_t n) {
  return front_check_keys_known(c, map, what, where, allowed, n, NULL, 0);
}

yaml_node_t *front_map_key(const front_ctx *c, const yaml_node_t *map, const char *key) {
  if (map->type != YAML_MAPPING_NODE) return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = front_node(c, p->key);
    const char *name = front_key_text(k);
    if (name && !strcmp(name, key)) return k;
  }
  return NULL;
}

yaml_node_t *front_map_get(const front_ctx *c, const yaml_node_t *map, const char *key) {
  if (map->type != YAML_MAPPING_NODE) return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    const char *name = front_key_text(front_node(c, p->key));
    if (name && !strcmp(name, key)) return front_node(c, p->value);
  }
  return NULL;
}

void front_missing(front_ctx *c, const yaml_node_t *map, const char *key, const char *where) {
  /* A misspelt key was already reported with "did you mean '<key>'?";
   * saying that <key> is missing as well would only repeat it. */
  if (map->type == YAML_MAPPING_NODE) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
      const char *name = front_key_text(front_node(c, p->key));
      if (name && strcmp(name, key) != 0 && diag_suggest(name, &key, 1)) return;
    }
  }
  front_error(c, front_loc(map), "missing required key '%s' %s", key, where);
}

char *front_strdup(front_ctx *c, const char *s) {
  char *p = xstrdup(s);
  if (!p) diag_error(c->dl, c->file, 0, 0, "out of memory");
  return p;
}

char *front_resolve_path(front_ctx *c, const char *rel) {
  const char *slash = strrchr(c->file, '/');
  if (rel[0] == '/' || !slash) return front_strdup(c, rel);
  size_t dir = (size_t)(slash - c->file) + 1, len = strlen(rel), total;
  char *p = NULL;
  if (!size_add_overflow(dir, len, &total) && !size_add_overflow(total, 1, &total))
    p = malloc(total);
  if (!p) {
    diag_error(c->dl, c->file, 0, 0, "out of memory");
    return NULL;
  }
  memcpy(p, c->file, dir);
  memcpy(p + dir, rel, len + 1);
  return p;
}

/* YAML 1.2 core schema float or int: [-+]? (\.[0-9]+ | [0-9]+(\.[0-9]*)?) ([eE][-+]?[0-9]+)? */
static int front_is_decimal(const char *s) {
  if (*s == '+' || *s == '-') s++;
  int digits = 0;
  while (isdigit((unsigned char)*s)) s++, digits++;
  if (*s == '.') {
    s++;
    while (isdigit((unsigned char)*s)) s++, digits++;
  }
  if (!digits) return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-') s++;
    if (!isdigit((unsigned char)*s)) return 0;
    while (isdigit((unsigned char)*s)) s++;
  }
  return *s == '\0';
}

static int front_parse_number(const char *s, double *out) {
  const char *t = s + (*s == '+' || *s == '-');
  if (!strcmp(t, ".inf") || !strcmp(t, ".Inf") || !strcmp(t, ".INF")) {
    *out = *s == '-' ? -INFINITY : INFINITY;
    return 0;
  }
  if (t == s && (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))) {
    *out = NAN;
    return 0;
  }
  if (!front_is_decimal(s)) return -1;
  *out = strtod(s, NULL);
  return 0; /* overflow gives +-HUGE_VAL, which finiteness checks catch */
}

int front_fits_float(double x) {
  return !isfinite(x) || x == 0 || (fabs(x) <= FLT_MAX && fabs(x) >= FLT_MIN);
}

static int front_plain(const yaml_node_t *n) {
  return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
         strlen((const char *)n->data.scalar.value) == n->data.scalar.length;
}

int front_read_double(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect,
                      double *out) {
  if (!front_plain(n) || front_parse_number((const char *)n->data.scalar.value, out) != 0) {
    front_expected(c, n, what, expect);
    return -1;
  }
  /* Every number a model gives ends up as a float32, where 1e300 would
   * silently become infinity and 1e-300 zero; the YAML location is known
   * only here. */
  if (!front_fits_float(*out)) {
    front_expected(c, n, what, expect);
    diag_hint(c->dl, "%s", FRONT_FLOAT_HINT);
    return -1;
  }
  return 0;
}

int front_read_int(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect,
                   int64_t min, int64_t max, int64_t *out) {
  const char *s = front_plain(n) ? (const char *)n->data.scalar.value : NULL;
  int ok = s != NULL;
  if (ok) {
    const char *d = s + (*s == '+' || *s == '-');
    ok = *d != '\0';
    for (const char *p = d; ok && *p; p++) ok = isdigit((unsigned char)*p);
    if (ok) {
      errno = 0;
      unsigned long long mag = strtoull(d, NULL, 10);
      ok = errno == 0 && mag <= INT64_MAX;
      int64_t v = *s == '-' ? -(int64_t)mag : (int64_t)mag;
      ok = ok && v >= min && v <= max;
      if (ok) *out = v;
    }
  }
  if (!ok) {
    front_expected(c, n, what, expect);
    return -1;
  }
  return 0;
}

int front_read_u32(front_ctx *c, const yaml_node_t *n, const char *what, const char *expect,
                   uint32_t min, uint32_t max, uint32_t *out) {
  int64_t v;
  if (front_read_int(c, n, what, expect, min, max, &v) != 0) return -1;
  *out = (uint32_t)v;
  return 0;
}

int front_read_bool(front_ctx *c, const yaml_node_t *n, const char *what, int *out) {
  static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False",
                                                                            "FALSE"};
  if (front_plain(n)) {
    const char *v = (const char *)n->data.scalar.value;
    for (size_t i = 0; i < 3; i++) {
      if (!strcmp(v, yes[i]) || !strcmp(v, no[i])) {
        *out = !strcmp(v, yes[i]);
        return 0;
      }
    }
  }
  front_expected(c, n, what, "true or false");
  return -1;
}

int front_read_kind(front_ctx *c, const yaml_node_t *map, const char *section,
                    const char *const *names, size_t count, const char *const *keys, size_t nkeys) {
  char what[64], where[64], kind_what[80];
  snprintf(what, sizeof what, "'%s'", section);
  snprintf(where, sizeof where, "in '%s'", section);
  snprintf(kind_what, sizeof kind_what, "'%s.kind'", section);
  yaml_node_t *kind = front_map_get(c, map, "kind");
  int k = -1;
  if (!kind)
    front_missing(c, map, "kind", where);
  else if (front_read_choice(c, kind, kind_what, names, count, &k) != 0)
    k = -1;
  if (k < 0) front_check_keys(c, map, what, where, keys, nkeys);
  return k;
}

int front_read_choice(front_ctx *c, const yaml_node_t *n, const char *what,
                      const char *const *names, size_t count, int *out) {
  char list[512];
  front_join(names, count, list, sizeof list);
  const char *s = front_scalar(c, n, what, list);
  if (!s) return -1;
  for (size_t i = 0; i < count; i++) {
    if (!strcmp(s, names[i])) {
      *out = (int)i;
      return 0;
    }
  }
  front_expected(c, n, what, list);
  const char *sug = diag_suggest(s, names, count);
  if (sug) diag_hint(c->dl, "did you mean '%s'?", sug);
  return -1;
}

int front_is_identifier(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > FRONT_MAX_NAME || isdigit((unsigned char)s[0])) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
      return 0;
  return 1;
}
