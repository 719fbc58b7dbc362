/*
 * spec.c - spec_load: YAML text -> checked model_spec.
 *
 * The passes run in order: YAML syntax (libyaml), sections and values
 * (yaml_model.c, data.c, schedule.c, with an exact network's atom files in
 * atoms.c), the graph's layers (layers.c), the weights file, then the
 * graph's structure, shapes and tensors (graph_check.c).  Nothing after a failed pass that
 * depends on it runs, so every reported error is a real one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "compiler/front/front.h"

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

/* libyaml's error as "syntax error: <problem> (<context> at L:C)". */
static void report_yaml_error(front_ctx *c, const yaml_parser_t *p) {
  switch (p->error) {
  case YAML_MEMORY_ERROR: diag_error(c->dl, c->file, 0, 0, "out of memory reading YAML"); return;
  case YAML_READER_ERROR:
    /* Reader errors carry a byte offset, not a line. */
    diag_error(c->dl, c->file, 0, 0, "invalid text at byte %zu: %s", p->problem_offset,
               p->problem ? p->problem : "unreadable input");
    return;
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

/* Load the single YAML document of f into doc; 0 on success. */
static int load_document(front_ctx *c, FILE *f, yaml_document_t *doc) {
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) {
    diag_error(c->dl, c->file, 0, 0, "out of memory reading YAML");
    return -1;
  }
  yaml_parser_set_input_file(&p, f);
  if (!yaml_parser_load(&p, doc)) {
    report_yaml_error(c, &p);
    yaml_parser_delete(&p);
    return -1;
  }
  yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root) {
    diag_error(c->dl, c->file, 0, 0, "found an empty file, expected a model mapping");
    yaml_document_delete(doc);
    yaml_parser_delete(&p);
    return -1;
  }
  yaml_document_t extra;
  int rc = 0;
  if (!yaml_parser_load(&p, &extra)) {
    report_yaml_error(c, &p);
    rc = -1;
  } else {
    yaml_node_t *more = yaml_document_get_root_node(&extra);
    if (more) {
      diag_error(c->dl, c->file, (int)extra.start_mark.line + 1, (int)extra.start_mark.column + 1,
                 "found a second YAML document, expected one model per file");
      rc = -1;
    }
    yaml_document_delete(&extra);
  }
  if (rc != 0) yaml_document_delete(doc);
  yaml_parser_delete(&p);
  return rc;
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
  FILE *f = fopen(path, "rb");
  if (!f) {
    diag_error(dl, path, 0, 0, "cannot open: %s", strerror(errno));
    return -1;
  }
  if (!(s.path = front_strdup(&c, path))) {
    fclose(f);
    return -1;
  }
  yaml_document_t doc;
  int loaded = load_document(&c, f, &doc) == 0;
  fclose(f);
  if (loaded) {
    front_status st;
    c.doc = &doc;
    front_parse_model(&c, yaml_document_get_root_node(&doc), &s, &st);
    yaml_document_delete(&doc);
    c.doc = NULL;
    int weights_loaded = 0;
    if (st.weights_ok) {
      char err[512];
      if (weights_load_safetensors(s.weights_path, &s.weights, err, sizeof err) == 0)
        weights_loaded = 1;
      else
        front_error(&c, s.weights_loc, "%s", err);
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
