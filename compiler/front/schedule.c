/*
 * schedule.c - the noise schedule: reading `schedule:` and computing the
 * cumulative precisions A_1..A_T (docs/model-yaml.md, `schedule`).
 *
 * geometric, linear and karras interpolate between two distinct endpoints,
 * so they need steps >= 2 (one step could not reach both); a table may have
 * a single value.  Whatever the kind, the resulting A_t must be positive,
 * finite and strictly increasing in double precision; that is checked on the
 * computed values, so extreme but individually valid parameters (say a
 * linear schedule too fine to resolve) are still reported, at the schedule.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/front/front.h"
#include "compiler/util/xalloc.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const kind_names[] = {"geometric", "linear", "karras", "table"};
static const char *const all_keys[] = {"kind",      "steps",     "start", "end",
                                       "sigma_min", "sigma_max", "rho",   "values"};
static const char *const endpoint_keys[] = {"kind", "steps", "start", "end"};
static const char *const karras_keys[] = {"kind", "steps", "sigma_min", "sigma_max", "rho"};
static const char *const table_keys[] = {"kind", "values", "steps"};

#define STEPS_EXPECT "an integer from 2 to 1000000"

static const char *text_of(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* A required finite positive number; 0 on success. */
static int read_positive(front_ctx *c, const yaml_node_t *map, const char *key, const char *where,
                         double *out) {
  char what[64];
  snprintf(what, sizeof what, "'schedule.%s'", key);
  yaml_node_t *n = front_map_get(c, map, key);
  if (!n) {
    front_missing(c, map, key, where);
    return -1;
  }
  if (front_read_double(c, n, what, "a finite number > 0", out) != 0) return -1;
  if (!(isfinite(*out) && *out > 0)) {
    front_expected(c, n, what, "a finite number > 0");
    return -1;
  }
  return 0;
}

static int read_steps(front_ctx *c, const yaml_node_t *map, const char *where, spec_schedule *s) {
  yaml_node_t *n = front_map_get(c, map, "steps");
  if (!n) {
    front_missing(c, map, "steps", where);
    return -1;
  }
  return front_read_u32(c, n, "'schedule.steps'", STEPS_EXPECT, 2, FRONT_MAX_STEPS, &s->steps);
}

/* `hi` must exceed `lo` (both already valid); the error sits at hi. */
static int check_order(front_ctx *c, const yaml_node_t *map, const char *lo, const char *hi,
                       double vlo, double vhi) {
  if (vhi > vlo) return 0;
  yaml_node_t *nlo = front_map_get(c, map, lo), *nhi = front_map_get(c, map, hi);
  char what[64], expect[128];
  snprintf(what, sizeof what, "'schedule.%s'", hi);
  snprintf(expect, sizeof expect, "a number greater than 'schedule.%s' (%s)", lo, text_of(nlo));
  front_expected(c, nhi, what, expect);
  return -1;
}

static int parse_table(front_ctx *c, const yaml_node_t *map, spec_schedule *s) {
  yaml_node_t *v = front_map_get(c, map, "values");
  if (!v) {
    front_missing(c, map, "values", "in a table 'schedule'");
    return -1;
  }
  size_t n = v->type == YAML_SEQUENCE_NODE
                 ? (size_t)(v->data.sequence.items.top - v->data.sequence.items.start)
                 : 0;
  if (n == 0) {
    front_expected(c, v, "'schedule.values'",
                   "a sequence of strictly increasing positive numbers A_1..A_T");
    return -1;
  }
  if (n > FRONT_MAX_STEPS) {
    front_error(c, front_loc(v), "found %zu values for 'schedule.values', expected at most %u", n,
                FRONT_MAX_STEPS);
    return -1;
  }
  s->values = xmalloc_array(n, sizeof *s->values);
  if (!s->values) {
    diag_error(c->dl, c->file, 0, 0, "out of memory");
    return -1;
  }
  int bad = 0;
  double prev = 0;
  const char *prev_text = NULL;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *it = front_node(c, v->data.sequence.items.start[i]);
    char what[48], expect[128];
    double a;
    snprintf(what, sizeof what, "'schedule.values[%zu]'", i);
    if (front_read_double(c, it, what, "a finite number > 0", &a) != 0) {
      bad = 1;
      prev_text = NULL;
      continue;
    }
    if (!(isfinite(a) && a > 0)) {
      front_expected(c, it, what, "a finite number > 0");
      bad = 1;
      prev_text = NULL;
      continue;
    }
    /* Compare only with a valid predecessor, so one bad entry is one error. */
    if (prev_text && !(a > prev)) {
      snprintf(expect, sizeof expect, "a number greater than the previous value (%s)", prev_text);
      front_expected(c, it, what, expect);
      bad = 1;
    }
    s->values[i] = a;
    prev = a;
    prev_text = text_of(it);
  }
  yaml_node_t *st = front_map_get(c, map, "steps");
  if (st) {
    char expect[96];
    snprintf(expect, sizeof expect, "%zu (the number of 'schedule.values')", n);
    uint32_t t;
    if (front_read_u32(c, st, "'schedule.steps'", expect, 1, FRONT_MAX_STEPS, &t) == 0 && t != n)
      front_expected(c, st, "'schedule.steps'", expect);
  }
  s->steps = (uint32_t)n;
  return bad ? -1 : 0;
}

/* The computed A_t must be usable whatever produced them. */
static int check_values(front_ctx *c, spec_schedule *s) {
  double *a = xmalloc_array(s->steps, sizeof *a);
  if (!a) {
    diag_error(c->dl, c->file, 0, 0, "out of memory");
    return -1;
  }
  spec_schedule_values(s, a);
  int rc = 0;
  for (uint32_t t = 0; t < s->steps && rc == 0; t++) {
    if (!(isfinite(a[t]) && a[t] > 0 && a[t] <= FLT_MAX)) {
      front_error(c, s->loc,
                  "found A_%u = %.17g in the %s schedule, expected finite positive values", t + 1,
                  a[t], kind_names[s->kind]);
      if (isfinite(a[t]) && a[t] > 0)
        diag_hint(c->dl, "the schedule is stored as float32, whose largest value is %.9g",
                  (double)FLT_MAX);
      rc = -1;
    } else if (t > 0 && !(a[t] > a[t - 1])) {
      front_error(c, s->loc,
                  "found A_%u = %.17g not above A_%u = %.17g in the %s schedule, expected "
                  "strictly increasing values",
                  t + 1, a[t], t, a[t - 1], kind_names[s->kind]);
      diag_hint(c->dl, "use fewer steps or endpoints further apart");
      rc = -1;
    }
  }
  free(a);
  return rc;
}

void front_parse_schedule(front_ctx *c, const yaml_node_t *n, spec_schedule *s) {
  s->loc = front_loc(n);
  s->rho = 7.0;
  if (n->type != YAML_MAPPING_NODE) {
    front_expected(c, n, "'schedule'", "a mapping");
    return;
  }
  int k =
      front_read_kind(c, n, "schedule", kind_names, COUNT(kind_names), all_keys, COUNT(all_keys));
  if (k < 0) return;
  s->kind = (spec_schedule_kind)k;
  size_t before = c->dl->errors;
  int ok = 0;
  switch (s->kind) {
  case SPEC_SCHEDULE_GEOMETRIC:
  case SPEC_SCHEDULE_LINEAR: {
    const char *where =
        s->kind == SPEC_SCHEDULE_LINEAR ? "in a linear 'schedule'" : "in a geometric 'schedule'";
    front_check_keys(c, n, "'schedule'", where, endpoint_keys, COUNT(endpoint_keys));
    int st = read_steps(c, n, where, s);
    int a = read_positive(c, n, "start", where, &s->start);
    int b = read_positive(c, n, "end", where, &s->end);
    int o = a == 0 && b == 0 ? check_order(c, n, "start", "end", s->start, s->end) : -1;
    ok = st == 0 && o == 0;
    break;
  }
  case SPEC_SCHEDULE_KARRAS: {
    const char *where = "in a karras 'schedule'";
    front_check_keys(c, n, "'schedule'", where, karras_keys, COUNT(karras_keys));
    int st = read_steps(c, n, where, s);
    int a = read_positive(c, n, "sigma_min", where, &s->sigma_min);
    int b = read_positive(c, n, "sigma_max", where, &s->sigma_max);
    int r = front_map_get(c, n, "rho") ? read_positive(c, n, "rho", where, &s->rho) : 0;
    int o = a == 0 && b == 0
                ? check_order(c, n, "sigma_min", "sigma_max", s->sigma_min, s->sigma_max)
                : -1;
    ok = st == 0 && r == 0 && o == 0;
    break;
  }
  case SPEC_SCHEDULE_TABLE:
    front_check_keys(c, n, "'schedule'", "in a table 'schedule'", table_keys, COUNT(table_keys));
    ok = parse_table(c, n, s) == 0;
    break;
  }
  if (ok && c->dl->errors == before) check_values(c, s);
}

void spec_schedule_values(const spec_schedule *s, double *a) {
  uint32_t T = s->steps;
  for (uint32_t i = 0; i < T; i++) {
    double f = T > 1 ? (double)i / (double)(T - 1) : 0.0;
    switch (s->kind) {
    case SPEC_SCHEDULE_GEOMETRIC: a[i] = s->start * pow(s->end / s->start, f); break;
    case SPEC_SCHEDULE_LINEAR: a[i] = s->start + (s->end - s->start) * f; break;
    case SPEC_SCHEDULE_KARRAS: {
      double hi = pow(s->sigma_max, 1.0 / s->rho), lo = pow(s->sigma_min, 1.0 / s->rho);
      double sigma = pow(hi + f * (lo - hi), s->rho);
      a[i] = 1.0 / (sigma * sigma);
      break;
    }
    case SPEC_SCHEDULE_TABLE: a[i] = s->values[i]; break;
    }
  }
}
