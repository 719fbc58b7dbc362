/*
 * spec.c - spec_load: YAML text -> checked model_spec.
 *
 * The passes run in order: YAML syntax (libyaml), sections and values
 * (yaml_model.c, data.c, schedule.c, with an exact network's atom files in
 * atoms.c), the graph's layers (layers.c), the weights file, then the
 * graph's structure, shapes and tensors (graph_check.c).  Nothing after a failed pass that
 * depends on it runs, so every reported error is a real one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "compiler/front/front.h"
#include "compiler/util/strmap.h"
#include "compiler/util/xalloc.h"
#include "runtime/infile.h"

const char *spec_pair_name(spec_pair p) {
  switch (p) {
  case SPEC_PAIR_NORMAL_NORMAL: return "normal-normal";
  case SPEC_PAIR_GAMMA_POISSON: return "gamma-poisson";
  case SPEC_PAIR_DIRICHLET_CATEGORICAL: return "dirichlet-categorical";
  }
  return "?";
}

const char *spec_schedule_kind_name(spec_schedule_kind k) {
  switch (k) {
  case SPEC_SCHEDULE_GEOMETRIC: return "geometric";
  case SPEC_SCHEDULE_LINEAR: return "linear";
  case SPEC_SCHEDULE_KARRAS: return "karras";
  case SPEC_SCHEDULE_TABLE: return "table";
  }
  return "?";
}

const char *spec_sampler_kind_name(spec_sampler_kind k) {
  switch (k) {
  case SPEC_SAMPLER_PMM: return "pmm";
  case SPEC_SAMPLER_EULER_MARUYAMA: return "euler-maruyama";
  case SPEC_SAMPLER_HEUN: return "heun";
  }
  return "?";
}

const char *spec_output_name(spec_output o) {
  switch (o) {
  case SPEC_OUTPUT_POSTERIOR_MEAN: return "posterior-mean";
  case SPEC_OUTPUT_PREDICTION: return "prediction";
  }
  return "?";
}

void spec_free(model_spec *s) {
  free(s->path);
  free(s->name);
  free(s->schedule.values);
  for (size_t i = 0; i < s->network.ncomponents; i++) free(s->network.mixture[i].mean);
  free(s->network.mixture);
  free(s->network.atoms_path);
  free(s->network.atoms);
  free(s->network.atom_weights);
  for (uint32_t i = 0; s->vocab && i < s->vocab_size; i++) free(s->vocab[i]);
  free(s->vocab);
  for (size_t i = 0; i < s->network.nlayers; i++) {
    spec_layer *l = &s->network.layers[i];
    free(l->name);
    for (size_t k = 0; k < l->ninputs; k++) free(l->inputs[k]);
    free(l->inputs);
    free(l->input_locs);
  }
  free(s->network.layers);
  free(s->network.output);
  free(s->weights_path);
  weight_set_free(&s->weights);
  memset(s, 0, sizeof *s);
}

/* Line and column (1-based, columns in characters) of byte off of text, for
 * libyaml's reader errors, which give only the offset. */
static spec_loc text_loc(const char *text, size_t len, size_t off) {
  spec_loc l = {1, 1};
  for (size_t i = 0; i < off && i < len; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch == '\n' || (ch == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) {
      l.line++;
      l.col = 1;
    } else if ((ch & 0xc0) != 0x80 && ch != '\r') {
      l.col++; /* a character starts here; continuation bytes belong to it */
    }
  }
  return l;
}

/* libyaml's error as "syntax error: <problem> (<context> at L:C)". */
static void report_yaml_error(front_ctx *c, const yaml_parser_t *p, const char *text, size_t len) {
  switch (p->error) {
  case YAML_MEMORY_ERROR: diag_error(c->dl, c->file, 0, 0, "out of memory reading YAML"); return;
  case YAML_READER_ERROR: {
    spec_loc l = text_loc(text, len, p->problem_offset);
    const char *problem = p->problem ? p->problem : "unreadable input";
    if (p->problem_value < 0)
      front_error(c, l, "invalid text: %s", problem);
    else if (strstr(problem, "octet"))
      front_error(c, l, "invalid text: %s (byte 0x%02X)", problem, (unsigned)p->problem_value);
    else
      front_error(c, l, "invalid text: %s (U+%04X)", problem, (unsigned)p->problem_value);
    return;
  }
  default: break;
  }
  int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
  if (p->context)
    diag_error(c->dl, c->file, line, col, "syntax error: %s (%s at %d:%d)", p->problem, p->context,
               (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
  else
    diag_error(c->dl, c->file, line, col, "syntax error: %s",
               p->problem ? p->problem : "malformed YAML");
}

/* Builds the document from libyaml's events (what yaml_parser_load does),
 * refusing nesting deeper than FRONT_MAX_DEPTH as soon as it is seen: deep
 * nesting costs libyaml time quadratic in the depth, and no model needs it. */
typedef struct composer {
  front_ctx *c;
  yaml_document_t *doc;
  int started;               /* the document was initialised */
  int open[FRONT_MAX_DEPTH]; /* the collections being filled */
  int key[FRONT_MAX_DEPTH];  /* mappings: the key awaiting its value, or 0 */
  int depth;
  strmap anchors; /* name -> node id; names owned by anchor_names */
  char **anchor_names;
  size_t nanchors, cap_anchors;
} composer;

static int compose_oom(composer *k) {
  diag_error(k->c->dl, k->c->file, 0, 0, "out of memory reading YAML");
  return -1;
}

/* Remember &anchor for node id (a later anchor of the same name wins, as in
 * yaml_parser_load). */
static int compose_anchor(composer *k, const yaml_char_t *anchor, int id) {
  if (!anchor) return 0;
  if (k->nanchors == k->cap_anchors) {
    size_t cap = k->cap_anchors ? 2 * k->cap_anchors : 16;
    char **more = xmalloc_array(cap, sizeof *more);
    if (!more) return compose_oom(k);
    if (k->nanchors) memcpy(more, k->anchor_names, k->nanchors * sizeof *more);
    free(k->anchor_names);
    k->anchor_names = more;
    k->cap_anchors = cap;
  }
  char *name = xstrdup((const char *)anchor);
  if (!name) return compose_oom(k);
  k->anchor_names[k->nanchors++] = name;
  return strmap_set(&k->anchors, name, (size_t)id) != 0 ? compose_oom(k) : 0;
}

/* Attach node id to the collection being filled. */
static int compose_attach(composer *k, int id) {
  if (k->depth == 0) return 0; /* the root */
  int parent = k->open[k->depth - 1];
  int ok;
  if (yaml_document_get_node(k->doc, parent)->type == YAML_SEQUENCE_NODE) {
    ok = yaml_document_append_sequence_item(k->doc, parent, id);
  } else if (!k->key[k->depth - 1]) {
    k->key[k->depth - 1] = id;
    return 0;
  } else {
    ok = yaml_document_append_mapping_pair(k->doc, parent, k->key[k->depth - 1], id);
    k->key[k->depth - 1] = 0;
  }
  return ok ? 0 : compose_oom(k);
}

static void compose_marks(composer *k, int id, const yaml_event_t *ev) {
  yaml_node_t *n = yaml_document_get_node(k->doc, id);
  n->start_mark = ev->start_mark;
  n->end_mark = ev->end_mark;
}

/* One event into the document; 1 at the end of the stream, 0 to go on, -1
 * after an error. */
static int compose_event(composer *k, yaml_event_t *ev) {
  int id;
  switch (ev->type) {
  case YAML_STREAM_START_EVENT:
  case YAML_DOCUMENT_END_EVENT:
  case YAML_NO_EVENT: return 0;
  case YAML_STREAM_END_EVENT: return 1;
  case YAML_DOCUMENT_START_EVENT:
    if (k->started) {
      diag_error(k->c->dl, k->c->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                 "found a second YAML document, expected one model per file");
      return -1;
    }
    if (!yaml_document_initialize(k->doc, NULL, NULL, NULL, ev->data.document_start.implicit, 1))
      return compose_oom(k);
    k->doc->start_mark = ev->start_mark;
    k->started = 1;
    return 0;
  case YAML_ALIAS_EVENT: {
    size_t at;
    if (!strmap_get(&k->anchors, (const char *)ev->data.alias.anchor, &at)) {
      diag_error(k->c->dl, k->c->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                 "found an undefined alias '*%s'", (const char *)ev->data.alias.anchor);
      return -1;
    }
    return compose_attach(k, (int)at);
  }
  case YAML_SCALAR_EVENT:
    id = yaml_document_add_scalar(k->doc, ev->data.scalar.tag, ev->data.scalar.value,
                                  (int)ev->data.scalar.length, ev->data.scalar.style);
    if (!id) return compose_oom(k);
    compose_marks(k, id, ev);
    return compose_anchor(k, ev->data.scalar.anchor, id) != 0 ? -1 : compose_attach(k, id);
  case YAML_SEQUENCE_START_EVENT:
  case YAML_MAPPING_START_EVENT: {
    int seq = ev->type == YAML_SEQUENCE_START_EVENT;
    if (k->depth == FRONT_MAX_DEPTH) {
      diag_error(k->c->dl, k->c->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                 "found a %s nested %d deep, expected at most %d levels of nesting",
                 seq ? "sequence" : "mapping", FRONT_MAX_DEPTH + 1, FRONT_MAX_DEPTH);
      return -1;
    }
    id = seq ? yaml_document_add_sequence(k->doc, ev->data.sequence_start.tag,
                                          ev->data.sequence_start.style)
             : yaml_document_add_mapping(k->doc, ev->data.mapping_start.tag,
                                         ev->data.mapping_start.style);
    if (!id) return compose_oom(k);
    compose_marks(k, id, ev);
    if (compose_anchor(k, seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor,
                       id) != 0 ||
        compose_attach(k, id) != 0)
      return -1;
    k->open[k->depth] = id;
    k->key[k->depth++] = 0;
    return 0;
  }
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    yaml_document_get_node(k->doc, k->open[--k->depth])->end_mark = ev->end_mark;
    return 0;
  }
  return 0;
}

/* Load the single YAML document of text[0..len) into doc; 0 on success. */
static int load_document(front_ctx *c, const char *text, size_t len, yaml_document_t *doc) {
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) {
    diag_error(c->dl, c->file, 0, 0, "out of memory reading YAML");
    return -1;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  composer k = {.c = c, .doc = doc};
  strmap_init(&k.anchors);
  int rc = 0;
  while (rc == 0) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      report_yaml_error(c, &p, text, len);
      rc = -1;
      break;
    }
    rc = compose_event(&k, &ev);
    yaml_event_delete(&ev);
  }
  if (rc > 0 && !(k.started && yaml_document_get_root_node(doc))) {
    diag_error(c->dl, c->file, 0, 0, "found an empty file, expected a model mapping");
    rc = -1;
  }
  if (rc < 0 && k.started) yaml_document_delete(doc);
  for (size_t i = 0; i < k.nanchors; i++) free(k.anchor_names[i]);
  free(k.anchor_names);
  strmap_free(&k.anchors);
  yaml_parser_delete(&p);
  return rc < 0 ? -1 : 0;
}

/* NaN and infinities in weights would make every sample NaN; the first
 * one (tensors in name order, elements in C order) is reported.  0 when
 * there is none. */
static int check_finite_weights(front_ctx *c, const model_spec *s) {
  for (size_t i = 0; i < s->weights.count; i++) {
    const weight_tensor *t = &s->weights.tensors[i];
    for (uint64_t k = 0; k < t->count; k++) {
      if (isfinite(t->data[k])) continue;
      front_error(c, s->weights_loc, "%s: tensor '%s' element %llu is %s", s->weights_path, t->name,
                  (unsigned long long)k,
                  isnan(t->data[k]) ? "nan"
                  : t->data[k] > 0  ? "inf"
                                    : "-inf");
      diag_hint(c->dl, "elements count from 0 in C order; weights must be finite");
      return -1;
    }
  }
  return 0;
}

int spec_load(const char *path, model_spec *spec, diag_list *dl) {
  return spec_load_flags(path, 0, spec, dl);
}

int spec_load_flags(const char *path, unsigned flags, model_spec *spec, diag_list *dl) {
  model_spec s;
  memset(&s, 0, sizeof s);
  memset(spec, 0, sizeof *spec);
  size_t errors0 = dl->errors;
  int oom0 = dl->oom;
  front_ctx c = {path, NULL, dl};
  char *text, err[512];
  size_t len;
  if (pmm_infile_read_text(path, PMM_INFILE_MAX_MODEL, "a model file", &text, &len, err,
                           sizeof err) != 0) {
    diag_error(dl, NULL, 0, 0, "%s", err);
    return -1;
  }
  if (!(s.path = front_strdup(&c, path))) {
    free(text);
    return -1;
  }
  yaml_document_t doc;
  int loaded = load_document(&c, text, len, &doc) == 0;
  free(text);
  if (loaded) {
    front_status st;
    c.doc = &doc;
    front_parse_model(&c, yaml_document_get_root_node(&doc), &s, &st);
    yaml_document_delete(&doc);
    c.doc = NULL;
    int weights_loaded = 0;
    if (st.weights_ok) {
      if (weights_load_safetensors(s.weights_path, &s.weights, err, sizeof err) != 0)
        front_error(&c, s.weights_loc, "%s", err);
      else
        weights_loaded = check_finite_weights(&c, &s) == 0;
    }
    if (st.network_ok && s.network.kind == SPEC_NETWORK_GRAPH)
      front_check_graph(&c, &s, &st, weights_loaded, flags);
    free(st.layer_args);
  }
  if (!loaded || dl->errors != errors0 || dl->oom != oom0) {
    if (dl->errors == errors0) diag_error(dl, path, 0, 0, "out of memory");
    spec_free(&s);
    return -1;
  }
  *spec = s;
  return 0;
}
