/*
 * layer_shapes.c - the shape rule of every op (layers.h): from the input
 * shapes and the layer's keys to its per-sample output shape, resolving
 * what depends on the input (axes, a reshape's -1, a conv's default
 * padding) on the way.
 *
 * A rule reports the first thing wrong at the most specific place: the key
 * whose value does not fit the input, or the input whose shape does not fit
 * the op.  Sizes are computed in 64 bits and every output is checked to
 * hold at most FRONT_MAX_LEN elements before it is stored.
 */
#include <stdio.h>
#include <string.h>

#include "compiler/front/layers.h"

#define MAX_TEXT "16777216"

static const char *kind(const shape_ctx *x) { return layer_kind_name(x->l); }

static const char *text(const tshape *s, char *buf) { return tshape_format(s, buf, TSHAPE_TEXT); }

/* Where key k's value was written; the layer when it was defaulted. */
static spec_loc key_at(const shape_ctx *x, layer_key_id k) {
  return (x->a->given & LK_BIT(k)) ? x->a->at[k] : x->l->loc;
}

/* The output from 64-bit dims (each >= 1). */
static int set_out(shape_ctx *x, uint32_t rank, const uint64_t *dim) {
  uint64_t n = 1;
  int over = 0;
  for (uint32_t i = 0; i < rank; i++) over |= __builtin_mul_overflow(n, dim[i], &n);
  if (over || n > FRONT_MAX_LEN) {
    char t[160];
    front_error(x->c, x->l->loc,
                "found an output of shape %s for %s layer '%s', expected at most " MAX_TEXT
                " elements",
                front_dims_text(t, sizeof t, rank, dim), kind(x), x->l->name);
    return -1;
  }
  x->l->out.rank = rank;
  for (uint32_t i = 0; i < rank; i++) x->l->out.dim[i] = (uint32_t)dim[i];
  return 0;
}

static int set_out_shape(shape_ctx *x, const tshape *s) {
  uint64_t d[TSHAPE_MAX_RANK];
  for (uint32_t i = 0; i < s->rank; i++) d[i] = s->dim[i];
  return set_out(x, s->rank, d);
}

/* Input k's shape does not suit the op: say what it should be. */
static int bad_input(shape_ctx *x, size_t k, const char *expect) {
  char t[TSHAPE_TEXT];
  front_error(x->c, x->l->input_locs[k],
              "found '%s' of shape %s for '%s' of %s layer '%s', expected %s", x->l->inputs[k],
              text(&x->in[k], t), layer_input_key(x->l, k), kind(x), x->l->name, expect);
  return -1;
}

/* Input 0 has rank `rank`, or at least `rank` when at_least. */
static int need_rank(shape_ctx *x, uint32_t rank, int at_least, const char *form) {
  uint32_t r = x->in[0].rank;
  return r == rank || (at_least && r > rank) ? 0 : bad_input(x, 0, form);
}

/* Normalise the written axis against a rank-`rank` input (input 0). */
static int resolve_axis(shape_ctx *x) {
  uint32_t rank = x->in[0].rank;
  if (tshape_axis(rank, x->a->axis, &x->l->axis) == 0) return 0;
  char t[TSHAPE_TEXT];
  front_error(x->c, key_at(x, LK_AXIS),
              "found axis %lld for %s layer '%s', expected an integer from -%u to %u (an axis of "
              "'%s', of shape %s)",
              (long long)x->a->axis, kind(x), x->l->name, rank, rank - 1, x->l->inputs[0],
              text(&x->in[0], t));
  return -1;
}

/* "[-1, 3]": a shape list as written. */
static const char *list_text(const layer_list *s, char *buf, size_t len) {
  size_t n = (size_t)snprintf(buf, len, "[");
  for (uint32_t i = 0; i < s->n && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%lld", i ? ", " : "", (long long)s->v[i]);
  if (n < len) snprintf(buf + n, len - n, "]");
  return buf;
}

/* ---- rules --------------------------------------------------------------- */

int shape_same(shape_ctx *x) { return set_out_shape(x, &x->in[0]); }

/* dense, embed: the last axis becomes `units`. */
int shape_units(shape_ctx *x) {
  tshape s = x->in[0];
  s.dim[s.rank - 1] = x->l->units;
  return set_out_shape(x, &s);
}

/* add, mul: NumPy broadcasting, left to right. */
int shape_broadcast(shape_ctx *x) {
  tshape acc = x->in[0];
  for (size_t k = 1; k < x->l->ninputs; k++) {
    tshape next;
    if (tshape_broadcast(&acc, &x->in[k], &next) != 0) {
      char t[TSHAPE_TEXT], u[TSHAPE_TEXT];
      front_error(x->c, x->l->input_locs[k],
                  "found '%s' of shape %s in 'inputs' of %s layer '%s', expected a shape that "
                  "broadcasts with %s",
                  x->l->inputs[k], text(&x->in[k], t), kind(x), x->l->name, text(&acc, u));
      diag_hint(x->c->dl, "shapes are aligned on the right; each pair of dims must be equal or "
                          "one of them 1 (NumPy broadcasting)");
      return -1;
    }
    acc = next;
  }
  return set_out_shape(x, &acc);
}

int shape_concat(shape_ctx *x) {
  const tshape *first = &x->in[0];
  if (resolve_axis(x) != 0) return -1;
  uint32_t ax = x->l->axis;
  uint64_t d[TSHAPE_MAX_RANK];
  for (uint32_t i = 0; i < first->rank; i++) d[i] = i == ax ? 0 : first->dim[i];
  for (size_t k = 0; k < x->l->ninputs; k++) {
    const tshape *s = &x->in[k];
    int fits = s->rank == first->rank;
    for (uint32_t i = 0; fits && i < s->rank; i++) fits = i == ax || s->dim[i] == first->dim[i];
    if (!fits) {
      char t[TSHAPE_TEXT], u[TSHAPE_TEXT];
      front_error(x->c, x->l->input_locs[k],
                  "found '%s' of shape %s in 'inputs' of concat layer '%s', expected the shape "
                  "of '%s' (%s) except on axis %u",
                  x->l->inputs[k], text(s, t), x->l->name, x->l->inputs[0], text(first, u), ax);
      return -1;
    }
    d[ax] += s->dim[ax]; /* each <= 2^24; the count of inputs is bounded by the file */
  }
  return set_out(x, first->rank, d);
}

int shape_sinusoidal(shape_ctx *x) {
  tshape one = tshape_vec(1), out = tshape_vec(x->l->dim);
  if (!tshape_equal(&x->in[0], &one)) return bad_input(x, 0, "shape [1], such as 'time'");
  return set_out_shape(x, &out);
}

int shape_conv2d(shape_ctx *x) {
  spec_layer *l = x->l;
  if (need_rank(x, 3, 0, "a shape [C, H, W] (rank 3)") != 0) return -1;
  const tshape *in = &x->in[0];
  char t[TSHAPE_TEXT];
  if (!(x->a->given & LK_BIT(LK_PADDING))) l->padding = (l->kernel - 1) / 2;
  if (in->dim[0] % l->groups != 0 || l->channels % l->groups != 0) {
    front_error(x->c, key_at(x, LK_GROUPS),
                "found groups %u for conv2d layer '%s', expected a divisor of both C = %u (input "
                "%s) and channels = %u",
                l->groups, l->name, in->dim[0], text(in, t), l->channels);
    return -1;
  }
  uint64_t side = in->dim[1] < in->dim[2] ? in->dim[1] : in->dim[2];
  side += 2 * (uint64_t)l->padding;
  if (side < l->kernel) {
    front_error(x->c, key_at(x, LK_KERNEL),
                "found kernel %u for conv2d layer '%s', expected at most %llu, the smaller side "
                "of input %s padded by %u on each side",
                l->kernel, l->name, (unsigned long long)side, text(in, t), l->padding);
    return -1;
  }
  uint64_t d[3] = {l->channels, 0, 0};
  for (int i = 1; i < 3; i++)
    d[i] = (in->dim[i] + 2 * (uint64_t)l->padding - l->kernel) / l->stride + 1;
  return set_out(x, 3, d);
}

int shape_groupnorm(shape_ctx *x) {
  if (need_rank(x, 2, 1, "a shape [C, ...] of rank 2 or more") != 0) return -1;
  const tshape *in = &x->in[0];
  if (in->dim[0] % x->l->groups != 0) {
    char t[TSHAPE_TEXT];
    front_error(x->c, key_at(x, LK_GROUPS),
                "found groups %u for groupnorm layer '%s', expected a divisor of C = %u (input "
                "%s)",
                x->l->groups, x->l->name, in->dim[0], text(in, t));
    return -1;
  }
  return set_out_shape(x, in);
}

int shape_upsample(shape_ctx *x) {
  if (need_rank(x, 3, 0, "a shape [C, H, W] (rank 3)") != 0) return -1;
  const tshape *in = &x->in[0];
  uint64_t f = x->l->factor;
  uint64_t d[3] = {in->dim[0], in->dim[1] * f, in->dim[2] * f}; /* < 2^48 */
  return set_out(x, 3, d);
}

int shape_avgpool(shape_ctx *x) {
  if (need_rank(x, 3, 0, "a shape [C, H, W] (rank 3)") != 0) return -1;
  const tshape *in = &x->in[0];
  uint32_t k = x->l->kernel, side = in->dim[1] < in->dim[2] ? in->dim[1] : in->dim[2];
  if (side < k) {
    char t[TSHAPE_TEXT];
    front_error(x->c, key_at(x, LK_KERNEL),
                "found kernel %u for avgpool layer '%s', expected at most %u, the smaller of H "
                "and W of input %s",
                k, x->l->name, side, text(in, t));
    return -1;
  }
  uint64_t d[3] = {in->dim[0], in->dim[1] / k, in->dim[2] / k};
  return set_out(x, 3, d);
}

int shape_attention(shape_ctx *x) {
  if (need_rank(x, 2, 0, "a shape [L, E] (rank 2)") != 0) return -1;
  uint32_t e = x->in[0].dim[1];
  if (e % x->l->heads != 0) {
    front_error(x->c, key_at(x, LK_HEADS),
                "found heads %u for attention layer '%s', expected a divisor of E = %u",
                x->l->heads, x->l->name, e);
    return -1;
  }
  return set_out_shape(x, &x->in[0]);
}

int shape_param(shape_ctx *x) {
  const layer_list *s = &x->a->list;
  uint64_t d[TSHAPE_MAX_RANK];
  for (uint32_t i = 0; i < s->n; i++) {
    if (s->v[i] < 1) {
      front_error(x->c, s->at[i],
                  "found -1 in 'shape' of param layer '%s', expected a positive integer (a "
                  "param has no input to infer a dim from)",
                  x->l->name);
      return -1;
    }
    d[i] = (uint64_t)s->v[i];
  }
  if (set_out(x, s->n, d) != 0) return -1;
  x->l->target = x->l->out;
  return 0;
}

int shape_reshape(shape_ctx *x) {
  const layer_list *s = &x->a->list;
  const tshape *in = &x->in[0];
  uint64_t n = tshape_numel(in), known = 1, d[TSHAPE_MAX_RANK];
  int hole = -1;
  for (uint32_t i = 0; i < s->n; i++) {
    if (s->v[i] == -1 && hole >= 0) {
      front_error(x->c, s->at[i],
                  "found a second -1 in 'shape' of reshape layer '%s', expected at most one (-1 "
                  "stands for the dim inferred from the input)",
                  x->l->name);
      return -1;
    }
    if (s->v[i] == -1) {
      hole = (int)i;
      continue;
    }
    d[i] = (uint64_t)s->v[i];
    /* Saturate: past FRONT_MAX_LEN the count is wrong whatever it is. */
    known = known > FRONT_MAX_LEN / d[i] ? FRONT_MAX_LEN + UINT64_C(1) : known * d[i];
  }
  char w[96], t[TSHAPE_TEXT];
  if (hole >= 0 && (known > n || n % known != 0)) {
    front_error(x->c, key_at(x, LK_SHAPE),
                "found shape %s for reshape layer '%s', expected dims whose product divides "
                "%llu, the element count of input %s",
                list_text(s, w, sizeof w), x->l->name, (unsigned long long)n, text(in, t));
    return -1;
  }
  if (hole < 0 && known != n) {
    char count[32];
    if (known > FRONT_MAX_LEN)
      snprintf(count, sizeof count, "more than " MAX_TEXT);
    else
      snprintf(count, sizeof count, "%llu", (unsigned long long)known);
    front_error(x->c, key_at(x, LK_SHAPE),
                "found shape %s (%s elements) for reshape layer '%s', expected %llu elements, "
                "like its input %s",
                list_text(s, w, sizeof w), count, x->l->name, (unsigned long long)n, text(in, t));
    return -1;
  }
  if (hole >= 0) d[hole] = n / known;
  if (set_out(x, s->n, d) != 0) return -1;
  x->l->target = x->l->out;
  return 0;
}

int shape_transpose(shape_ctx *x) {
  const layer_list *p = &x->a->list;
  const tshape *in = &x->in[0];
  unsigned seen = 0;
  int ok = p->n == in->rank;
  for (uint32_t i = 0; ok && i < p->n; i++) {
    ok = p->v[i] < (int64_t)in->rank && !(seen & (1u << p->v[i]));
    seen |= 1u << p->v[i];
  }
  if (!ok) {
    char w[96], t[TSHAPE_TEXT];
    front_error(x->c, key_at(x, LK_PERM),
                "found perm %s for transpose layer '%s', expected a permutation of 0..%u (input "
                "'%s' of shape %s has rank %u)",
                list_text(p, w, sizeof w), x->l->name, in->rank - 1, x->l->inputs[0], text(in, t),
                in->rank);
    return -1;
  }
  tshape out = *in;
  for (uint32_t i = 0; i < p->n; i++) {
    x->l->perm[i] = (uint32_t)p->v[i];
    out.dim[i] = in->dim[p->v[i]];
  }
  return set_out_shape(x, &out);
}

/* torch.chunk: chunks of ceil(n / chunks) along the axis, the last maybe
 * shorter, and fewer chunks than asked when n is small. */
int shape_chunk(shape_ctx *x) {
  spec_layer *l = x->l;
  const tshape *in = &x->in[0];
  if (resolve_axis(x) != 0) return -1;
  if (l->index >= l->chunks) {
    front_error(x->c, key_at(x, LK_INDEX),
                "found index %u for chunk layer '%s', expected an index below chunks = %u",
                l->index, l->name, l->chunks);
    return -1;
  }
  uint32_t n = in->dim[l->axis], size = n / l->chunks + (n % l->chunks != 0);
  uint32_t count = n / size + (n % size != 0);
  if (l->index >= count) {
    char t[TSHAPE_TEXT];
    front_error(x->c, key_at(x, LK_INDEX),
                "found index %u for chunk layer '%s', expected an index below %u: axis %u of "
                "input %s in chunks of %u makes %u non-empty chunk%s",
                l->index, l->name, count, l->axis, text(in, t), size, count, count == 1 ? "" : "s");
    return -1;
  }
  tshape out = *in;
  out.dim[l->axis] = n - l->index * size < size ? n - l->index * size : size;
  return set_out_shape(x, &out);
}

/* x * (1 + scale) + shift: shift and scale broadcast to x's shape. */
int shape_modulate(shape_ctx *x) {
  const tshape *in = &x->in[0];
  int bad = 0;
  for (size_t k = 1; k < 3; k++) {
    tshape b;
    if (tshape_broadcast(in, &x->in[k], &b) == 0 && tshape_equal(&b, in)) continue;
    char t[TSHAPE_TEXT], u[TSHAPE_TEXT];
    front_error(x->c, x->l->input_locs[k],
                "found '%s' of shape %s for '%s' of modulate layer '%s', expected a shape that "
                "broadcasts to %s, the shape of its input '%s'",
                x->l->inputs[k], text(&x->in[k], t), layer_input_key(x->l, k), x->l->name,
                text(in, u), x->l->inputs[0]);
    bad = 1;
  }
  return bad ? -1 : set_out_shape(x, in);
}

int shape_softmax(shape_ctx *x) { return resolve_axis(x) != 0 ? -1 : set_out_shape(x, &x->in[0]); }
