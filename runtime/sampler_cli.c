/*
 * sampler_cli.c - the command line every generated sampler shares
 * (README.md, "The generated sampler"): option parsing, --info/--help/--version, sample
 * ranges and shards, and the writers: .npy, .csv, .txt (categorical
 * samples decoded through the vocabulary, vocab.c) and .png (image grids,
 * png_grid.c).
 *
 * Exit status: 0 success, 1 bad input, I/O or model failure, 2 usage.
 * Outputs are opened as outfile.h describes: a file is written under a
 * temporary name and renamed into place only once complete, so a failed
 * run never leaves a file that looks like a finished one; a device or FIFO
 * is written directly.  Samples are generated and written a chunk at a
 * time, so -n is not limited by memory.
 */
#define _GNU_SOURCE /* getopt_long, optind = 0 re-initialisation */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "runtime/pmmrt.h"
#include "runtime/outfile.h"
#include "runtime/png_grid.h"
#include "runtime/vocab.h"

#define CLI_MAX_THREADS 4096u
#define CLI_CHUNK_BYTES (16u << 20) /* floats generated per write, roughly */

typedef enum cli_format {
  CLI_FORMAT_AUTO,
  CLI_FORMAT_NPY,
  CLI_FORMAT_CSV,
  CLI_FORMAT_TXT,
  CLI_FORMAT_PNG,
  CLI_FORMAT_COUNT
} cli_format;

static const char *const cli_format_names[CLI_FORMAT_COUNT] = {
    [CLI_FORMAT_AUTO] = "auto", [CLI_FORMAT_NPY] = "npy", [CLI_FORMAT_CSV] = "csv",
    [CLI_FORMAT_TXT] = "txt",   [CLI_FORMAT_PNG] = "png",
};

typedef struct cli_opts {
  const char *prog;
  uint64_t n, seed, first, shard_k, shard_n;
  int has_shard, info, help, version;
  const char *output;
  cli_format format;
  unsigned threads;
} cli_opts;

/* ---- messages ----------------------------------------------------------- */

static void cli_verror(const cli_opts *o, const char *fmt, va_list ap) {
  fprintf(stderr, "%s: error: ", o->prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

/* "PROG: error: ..." on one line: bad input, I/O and model failures. */
static void cli_error(const cli_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void cli_error(const cli_opts *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cli_verror(o, fmt, ap);
  va_end(ap);
}

/* The same plus a pointer to --help; returns the usage exit status. */
static int cli_usage_error(const cli_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int cli_usage_error(const cli_opts *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cli_verror(o, fmt, ap);
  va_end(ap);
  fprintf(stderr, "Try '%s --help'.\n", o->prog);
  return 2;
}

static void cli_print_help(const cli_opts *o, const pmm_model_desc *d) {
  printf("Usage: %s [OPTION]...\n"
         "Draw samples from the PMM model '%s' (%s, %llu steps).\n"
         "\n"
         "  -n, --num-samples N   number of samples (default 1)\n"
         "  -s, --seed S          random seed, 0 to 2^64-1 (default 0)\n"
         "  -o, --output PATH     output file, - for standard output (default -)\n"
         "      --format F        npy, csv, txt or png (default: from PATH's\n"
         "                        extension; csv on standard output)\n"
         "      --threads N       worker threads, 0 = one per online CPU (default 0)\n"
         "      --first-index I   index of the first sample (default 0)\n"
         "      --shard K/N       write only part K of N (0 <= K < N) of the samples\n"
         "      --info            describe the model and exit\n"
         "  -h, --help            show this help and exit\n"
         "      --version         show the version and exit\n"
         "\n"
         "Sample i depends only on this program, the seed and i: any -n, --threads,\n"
         "--first-index or --shard split gives the same values.\n"
         "\n"
         "Formats: npy (float32, one row per sample) and csv (a '#' line naming the\n"
         "model, seed and range, then one line per sample); txt, for categorical\n"
         "models, prints each sample decoded through the vocabulary, one per line,\n"
         "trailing padding dropped; png draws samples of shape [H, W] or [C, H, W]\n"
         "(C = 1 or 3) as one grid, values mapped from the model's range to 0..255.\n"
         "An .npy or .txt file gets a sidecar PATH.json recording the model, seed\n"
         "and sample range; a .png records them in its text chunks.  A file appears\n"
         "only once complete (it is written under a temporary name, then renamed);\n"
         "a device or FIFO (-o /dev/null) is written directly.\n",
         o->prog, d->name, d->pair, (unsigned long long)d->steps);
}

static void cli_print_shape(FILE *f, const pmm_model_desc *d) {
  fputc('[', f);
  for (uint64_t i = 0; i < d->rank; i++)
    fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)d->shape[i]);
  fputc(']', f);
}

/* v is the model's vocabulary, NULL for non-categorical models. */
static void cli_print_info(const pmm_model_desc *d, const cli_vocab *v) {
  printf("model:            %s\n", d->name);
  printf("pair:             %s\n", d->pair);
  printf("sampler:          %s\n", d->sampler);
  printf("output:           %s\n", d->output);
  printf("schedule:         %s\n", d->schedule);
  printf("steps:            %llu\n", (unsigned long long)d->steps);
  printf("data shape:       ");
  cli_print_shape(stdout, d);
  putchar('\n');
  if (v) {
    printf("vocabulary:       %llu symbols \"%s\"\n", (unsigned long long)v->k, v->text);
    printf("padding symbol:   ");
    if (v->pad >= 0) {
      putchar('\'');
      vocab_put(v, stdout, (uint64_t)v->pad);
      printf("' (index %lld)\n", (long long)v->pad);
    } else {
      printf("none\n");
    }
  }
  if (isfinite(d->range_lo) && isfinite(d->range_hi) && d->range_hi > d->range_lo)
    printf("value range:      [%g, %g]\n", d->range_lo, d->range_hi);
  printf("block size:       %llu\n", (unsigned long long)d->block_size);
  printf("FLOPs per sample: %llu\n", (unsigned long long)d->flops_per_sample);
  printf("scratch bytes:    %llu\n", (unsigned long long)d->scratch_bytes);
  printf("weight bytes:     %llu\n", (unsigned long long)d->weight_bytes);
  printf("weight hash:      %s\n", d->weight_hash && *d->weight_hash ? d->weight_hash : "none");
  if (!d->build)
    printf("code bytes:       unknown\n");
  else if (d->build->code_bytes == 0)
    printf("code bytes:       n/a (interpreted)\n");
  else
    printf("code bytes:       %llu\n", (unsigned long long)d->build->code_bytes);
  if (d->build)
    printf("compile time:     %.3f ms\n", (double)d->build->compile_us / 1000.0);
  else
    printf("compile time:     unknown\n");
  printf("engine:           %s\n", d->engine);
}

/* ---- option parsing ----------------------------------------------------- */

/* A decimal integer, digits only: no sign, no spaces, no overflow. */
static int parse_u64(const char *s, uint64_t *out) {
  if (!*s) return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    unsigned digit = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - digit) / 10) return -1;
    v = v * 10 + digit;
  }
  *out = v;
  return 0;
}

static int parse_shard(const char *s, uint64_t *k, uint64_t *n) {
  const char *slash = strchr(s, '/');
  if (!slash || slash == s) return -1;
  char head[32];
  size_t len = (size_t)(slash - s);
  if (len >= sizeof head) return -1;
  memcpy(head, s, len);
  head[len] = '\0';
  return parse_u64(head, k) != 0 || parse_u64(slash + 1, n) != 0 ? -1 : 0;
}

enum { OPT_FORMAT = 256, OPT_THREADS, OPT_FIRST, OPT_SHARD, OPT_INFO, OPT_VERSION };

static const struct option cli_long_opts[] = {
    {"num-samples", required_argument, NULL, 'n'},
    {"seed", required_argument, NULL, 's'},
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"first-index", required_argument, NULL, OPT_FIRST},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"info", no_argument, NULL, OPT_INFO},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* The option as the user spelled it, for messages ("--seed", "-s"). */
static const char *opt_spelling(int c, char *buf, size_t len) {
  for (const struct option *lo = cli_long_opts; lo->name; lo++) {
    if (lo->val == c) {
      if (c < 256)
        snprintf(buf, len, "-%c/--%s", c, lo->name);
      else
        snprintf(buf, len, "--%s", lo->name);
      return buf;
    }
  }
  snprintf(buf, len, "-%c", c);
  return buf;
}

static int bad_number(const cli_opts *o, int c, const char *arg) {
  char name[48];
  return cli_usage_error(o, "invalid value '%s' for %s: expected a non-negative integer", arg,
                         opt_spelling(c, name, sizeof name));
}

/* 0 on success, else the exit status (2) after a message. */
static int cli_parse(int argc, char **argv, cli_opts *o) {
  opterr = 0;
  optind = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":n:s:o:h", cli_long_opts, NULL)) != -1) {
    uint64_t v;
    switch (c) {
    case 'n':
      if (parse_u64(optarg, &o->n) != 0) return bad_number(o, c, optarg);
      break;
    case 's':
      if (parse_u64(optarg, &o->seed) != 0) return bad_number(o, c, optarg);
      break;
    case 'o':
      if (!*optarg) return cli_usage_error(o, "empty file name for -o/--output");
      o->output = optarg;
      break;
    case OPT_FORMAT:
      o->format = CLI_FORMAT_AUTO;
      for (int f = CLI_FORMAT_NPY; f < CLI_FORMAT_COUNT; f++) {
        if (strcmp(optarg, cli_format_names[f]) == 0) o->format = (cli_format)f;
      }
      if (o->format == CLI_FORMAT_AUTO)
        return cli_usage_error(
            o, "unknown format '%s' for --format (expected npy, csv, txt or png)", optarg);
      break;
    case OPT_THREADS:
      if (parse_u64(optarg, &v) != 0) return bad_number(o, c, optarg);
      if (v > CLI_MAX_THREADS)
        return cli_usage_error(o, "--threads %s is too many (at most %u)", optarg, CLI_MAX_THREADS);
      o->threads = (unsigned)v;
      break;
    case OPT_FIRST:
      if (parse_u64(optarg, &o->first) != 0) return bad_number(o, c, optarg);
      break;
    case OPT_SHARD:
      if (parse_shard(optarg, &o->shard_k, &o->shard_n) != 0)
        return cli_usage_error(o, "invalid value '%s' for --shard: expected K/N, e.g. 0/4", optarg);
      if (o->shard_n == 0 || o->shard_n > UINT32_MAX || o->shard_k >= o->shard_n)
        return cli_usage_error(o, "invalid shard '%s': need 0 <= K < N and N <= %lu", optarg,
                               (unsigned long)UINT32_MAX);
      o->has_shard = 1;
      break;
    case OPT_INFO: o->info = 1; break;
    case 'h': o->help = 1; break;
    case OPT_VERSION: o->version = 1; break;
    case ':': {
      char name[48];
      return cli_usage_error(o, "option %s needs a value",
                             optopt ? opt_spelling(optopt, name, sizeof name) : argv[optind - 1]);
    }
    default: {
      /* getopt_long has stepped past the offending word; for a long
       * option optopt is its value if known (it was given "=VALUE"). */
      const char *word = argv[optind - 1];
      if (strncmp(word, "--", 2) != 0) return cli_usage_error(o, "unknown option '-%c'", optopt);
      int len = (int)strcspn(word, "=");
      if (optopt) return cli_usage_error(o, "option '%.*s' takes no value", len, word);
      return cli_usage_error(o, "unknown option '%.*s'", len, word);
    }
    }
  }
  if (optind < argc) return cli_usage_error(o, "unexpected argument '%s'", argv[optind]);
  if (o->n > UINT64_MAX - o->first)
    return cli_usage_error(o, "--first-index %llu plus -n %llu overflows 64 bits",
                           (unsigned long long)o->first, (unsigned long long)o->n);
  return 0;
}

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* ---- formats ------------------------------------------------------------ */

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  unsigned char first;
  memcpy(&first, &one, 1);
  return first == 1;
}

/* .npy data is little-endian float32 whatever the host. */
static int write_npy_rows(FILE *f, float *data, size_t nfloats) {
  if (!host_is_little_endian()) {
    for (size_t i = 0; i < nfloats; i++) {
      uint32_t b;
      memcpy(&b, &data[i], 4);
      b = (b >> 24) | ((b >> 8) & 0xff00u) | ((b << 8) & 0xff0000u) | (b << 24);
      memcpy(&data[i], &b, 4);
    }
  }
  return fwrite(data, sizeof(float), nfloats, f) == nfloats ? 0 : -1;
}

static int write_csv_rows(FILE *f, const float *data, size_t rows, size_t elems) {
  for (size_t r = 0; r < rows; r++) {
    for (size_t e = 0; e < elems; e++) {
      if (fprintf(f, e ? ",%.9g" : "%.9g", (double)data[r * elems + e]) < 0) return -1;
    }
    if (fputc('\n', f) == EOF) return -1;
  }
  return 0;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

/* The sidecar PATH.json: what an .npy header cannot say. */
static void write_sidecar(FILE *f, const cli_opts *o, const pmm_model_desc *d, uint64_t first,
                          uint64_t count) {
  fprintf(f, "{\n  \"model\": ");
  json_string(f, d->name);
  fprintf(f, ",\n  \"seed\": %llu,\n  \"first_index\": %llu,\n  \"count\": %llu,\n",
          (unsigned long long)o->seed, (unsigned long long)first, (unsigned long long)count);
  if (o->has_shard)
    fprintf(f, "  \"shard\": \"%llu/%llu\",\n", (unsigned long long)o->shard_k,
            (unsigned long long)o->shard_n);
  else
    fprintf(f, "  \"shard\": null,\n");
  fprintf(f, "  \"shape\": [%llu", (unsigned long long)count);
  for (uint64_t i = 0; i < d->rank; i++) fprintf(f, ", %llu", (unsigned long long)d->shape[i]);
  fprintf(f, "],\n  \"pair\": ");
  json_string(f, d->pair);
  fprintf(f, ",\n  \"sampler\": ");
  json_string(f, d->sampler);
  fprintf(f, ",\n  \"output\": ");
  json_string(f, d->output);
  fprintf(f, ",\n  \"weight_hash\": ");
  json_string(f, d->weight_hash);
  fprintf(f, ",\n  \"engine\": ");
  json_string(f, d->engine);
  fprintf(f, "\n}\n");
}

/* ---- the run ------------------------------------------------------------ */

/* Where samples go: the output file and the format's state. */
typedef struct cli_writer {
  cli_format fmt;
  pmm_outfile *out;
  const cli_vocab *vocab; /* txt */
  png_grid *grid;         /* png */
  size_t elems;
} cli_writer;

static const char *out_name(const pmm_outfile *f) {
  return strcmp(f->path, "-") == 0 ? "standard output" : f->path;
}

/* What was written is flushed at once, so that a write error (a full
 * disk) ends the run before more samples are computed in vain. */
static int writer_flush(const cli_opts *o, cli_writer *w) {
  if (fflush(w->out->fp) == 0) return 0;
  cli_error(o, "cannot write '%s': %s", out_name(w->out), strerror(errno));
  return -1;
}

/* Samples [index, index + rows) in buf to the output; 0, or -1 reported. */
static int writer_put(const cli_opts *o, cli_writer *w, float *buf, uint64_t index, uint64_t rows) {
  FILE *f = w->out->fp;
  int bad = 0;
  switch (w->fmt) {
  case CLI_FORMAT_NPY: bad = write_npy_rows(f, buf, (size_t)rows * w->elems); break;
  case CLI_FORMAT_TXT:
    for (uint64_t r = 0; r < rows && !bad; r++) {
      size_t pos;
      const float *x = buf + (size_t)r * w->elems;
      int st = vocab_write_line(w->vocab, f, x, w->elems, &pos);
      if (st == 1) {
        cli_error(o,
                  "sample %llu holds %g at position %zu, which is not a symbol index "
                  "(0 to %llu)",
                  (unsigned long long)(index + r), (double)x[pos], pos,
                  (unsigned long long)(w->vocab->k - 1));
        return -1;
      }
      bad = st;
    }
    break;
  case CLI_FORMAT_PNG: {
    char err[256];
    if (png_grid_add(w->grid, buf, rows, err, sizeof err) == 0) return 0;
    cli_error(o, "cannot write '%s': %s", out_name(w->out), err);
    return -1;
  }
  default: bad = write_csv_rows(f, buf, (size_t)rows, w->elems); break;
  }
  if (bad) {
    cli_error(o, "cannot write '%s': %s", out_name(w->out), strerror(errno));
    return -1;
  }
  return writer_flush(o, w);
}

/* Samples per generate call: whole blocks, at least one per worker.  The
 * first call makes one block a worker, each next one twice as many up to
 * about CLI_CHUNK_BYTES of floats, so a write that fails (a disk that
 * fills) fails before much has been computed.  desc_check made sure one
 * block fits in memory, so one block is always possible. */
static void chunk_samples(const pmm_model_desc *d, unsigned threads, uint64_t *least,
                          uint64_t *most) {
  if (threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n > 0 ? (unsigned)(n < (long)CLI_MAX_THREADS ? n : (long)CLI_MAX_THREADS) : 1;
  }
  uint64_t block_floats = d->block_size * d->sample_elems;
  uint64_t blocks = CLI_CHUNK_BYTES / sizeof(float) / block_floats;
  uint64_t first = threads;
  if (blocks < threads) blocks = threads;
  if (blocks > SIZE_MAX / sizeof(float) / block_floats) blocks = first = 1;
  *least = first * d->block_size;
  *most = blocks * d->block_size;
}

/* Generate [first, first + count) chunk by chunk into the writer. */
static int generate_into(const cli_opts *o, const pmm_model_desc *d, cli_writer *w, uint64_t first,
                         uint64_t count) {
  uint64_t chunk, most;
  chunk_samples(d, o->threads, &chunk, &most);
  uint64_t buf_rows = most < count ? most : count > 0 ? count : 1;
  size_t elems = (size_t)d->sample_elems;
  float *buf = malloc((size_t)buf_rows * elems * sizeof(float));
  if (!buf) {
    cli_error(o, "out of memory for %llu samples", (unsigned long long)buf_rows);
    return -1;
  }
  uint64_t end = first + count, at = first;
  int rc = 0;
  while (rc == 0 && at < end) {
    /* End chunks on block boundaries so no block is computed twice; a
     * chunk never exceeds `most` or the remaining count, hence buf. */
    uint64_t stop = (at / d->block_size) * d->block_size + chunk;
    if (stop <= at || stop > end) stop = end;
    uint64_t rows = stop - at;
    char err[512];
    pmm_status st = pmm_sampler_generate(d, o->seed, at, rows, o->threads, buf, err, sizeof err);
    if (st != PMM_OK) {
      cli_error(o, "%s", err);
      rc = -1;
      break;
    }
    rc = writer_put(o, w, buf, at, rows);
    at = stop;
    chunk = chunk > most / 2 ? most : 2 * chunk;
  }
  free(buf);
  return rc;
}

/* What precedes the samples: the .npy header, the csv comment line, or
 * the PNG header (txt has none: every line is a sample), flushed before
 * the first sample is computed. */
static int writer_start(const cli_opts *o, const pmm_model_desc *d, cli_writer *w, uint64_t first,
                        uint64_t count) {
  char comment[512];
  snprintf(comment, sizeof comment, "model=%s seed=%llu first_index=%llu count=%llu", d->name,
           (unsigned long long)o->seed, (unsigned long long)first, (unsigned long long)count);
  FILE *f = w->out->fp;
  int bad = 0;
  if (w->fmt == CLI_FORMAT_NPY) {
    uint64_t shape[5] = {count};
    memcpy(shape + 1, d->shape, (size_t)d->rank * sizeof shape[0]);
    bad = pmm_npy_write_header(f, (uint32_t)d->rank + 1, shape) != PMM_OK;
  } else if (w->fmt == CLI_FORMAT_CSV) {
    bad = fprintf(f, "# %s\n", comment) < 0;
  } else if (w->fmt == CLI_FORMAT_PNG) {
    char err[256];
    w->grid = png_grid_open(f, d, count, comment, err, sizeof err);
    if (!w->grid) {
      cli_error(o, "cannot write '%s': %s", out_name(w->out), err);
      return -1;
    }
  }
  if (bad) {
    cli_error(o, "cannot write '%s': %s", out_name(w->out), strerror(errno));
    return -1;
  }
  return writer_flush(o, w);
}

static int writer_finish(const cli_opts *o, cli_writer *w) {
  char err[256];
  if (w->grid && png_grid_finish(w->grid, err, sizeof err) != 0) {
    cli_error(o, "cannot write '%s': %s", out_name(w->out), err);
    return -1;
  }
  return 0;
}

/* The sidecar PATH.json of an .npy or .txt file replaced by rename (a
 * stream has no place beside it).  Opened with the data, so that a
 * directory in its place is found before any work; a name that would be
 * too long for the file system is no reason to refuse the data, so the
 * data is then written alone, with a warning.  0 (*has tells whether a
 * sidecar is being written), or -1 reported. */
static int sidecar_open(const cli_opts *o, const pmm_outfile *data, pmm_outfile *side,
                        char **side_path, int *has) {
  *has = 0;
  size_t len = strlen(data->path);
  *side_path = malloc(len + sizeof ".json");
  if (!*side_path) {
    cli_error(o, "out of memory");
    return -1;
  }
  memcpy(*side_path, data->path, len);
  memcpy(*side_path + len, ".json", sizeof ".json");
  char err[PATH_MAX + 128];
  if (pmm_outfile_open(side, *side_path, err, sizeof err) == 0) {
    *has = 1;
    return 0;
  }
  if (errno == ENAMETOOLONG) {
    fprintf(stderr, "%s: warning: %s; '%s' is written without its sidecar\n", o->prog, err,
            data->path);
    return 0;
  }
  cli_error(o, "%s", err);
  return -1;
}

static int write_output(const cli_opts *o, const pmm_model_desc *d, cli_format fmt,
                        const cli_vocab *vocab, uint64_t first, uint64_t count) {
  pmm_outfile data, side;
  char err[PATH_MAX + 128] = "", *side_path = NULL;
  int has_side = 0;
  if (pmm_outfile_open(&data, o->output, err, sizeof err) != 0) {
    cli_error(o, "%s", err);
    return 1;
  }
  if ((fmt == CLI_FORMAT_NPY || fmt == CLI_FORMAT_TXT) && pmm_outfile_renames(&data) &&
      sidecar_open(o, &data, &side, &side_path, &has_side) != 0) {
    pmm_outfile_abort(&data);
    free(side_path);
    return 1;
  }

  cli_writer w = {fmt, &data, vocab, NULL, (size_t)d->sample_elems};
  int rc = writer_start(o, d, &w, first, count);
  if (rc == 0) rc = generate_into(o, d, &w, first, count);
  if (rc == 0) rc = writer_finish(o, &w);
  png_grid_free(w.grid);
  if (rc == 0 && has_side) write_sidecar(side.fp, o, d, first, count);

  /* Both files are complete under their temporary names before either is
   * renamed, so what can fail has failed before a previous output is
   * touched.  Should the sidecar's rename still fail, the data stays: it
   * is complete, and it has replaced the previous output already. */
  if (rc == 0) rc = pmm_outfile_close(&data, err, sizeof err);
  if (rc == 0 && has_side) rc = pmm_outfile_close(&side, err, sizeof err);
  if (rc == 0) rc = pmm_outfile_commit(&data, err, sizeof err);
  if (rc == 0 && has_side) rc = pmm_outfile_commit(&side, err, sizeof err);
  if (rc != 0 && *err) cli_error(o, "%s", err);
  pmm_outfile_abort(&data);
  if (has_side) pmm_outfile_abort(&side);
  free(side_path);
  return rc == 0 ? 0 : 1;
}

/* The descriptor is generated code, but a bad one must still be reported,
 * not crash the program.  The ABI version is checked first: a descriptor
 * of another layout cannot be read any further.  run_block is needed only
 * to generate samples (need_run). */
static int desc_check(const cli_opts *o, const pmm_model_desc *d, int need_run) {
  if (d->abi != PMM_DESC_ABI) {
    cli_error(o,
              "model descriptor has ABI version %llu, this runtime expects %u: "
              "rebuild the sampler with the pmmc that goes with this runtime",
              (unsigned long long)d->abi, PMM_DESC_ABI);
    return -1;
  }
  uint64_t elems = 1;
  int ok = d->name && d->pair && d->sampler && d->output && d->schedule && d->engine &&
           (d->run_block || !need_run) && d->rank >= 1 && d->rank <= 4 && d->block_size > 0;
  for (uint64_t i = 0; ok && i < d->rank; i++) {
    if (d->shape[i] == 0 || elems > UINT64_MAX / d->shape[i])
      ok = 0;
    else
      elems *= d->shape[i];
  }
  if (!ok || elems != d->sample_elems || elems > SIZE_MAX / sizeof(float) / d->block_size) {
    cli_error(o, "model descriptor is inconsistent (shape, sample size or block size)");
    return -1;
  }
  return 0;
}

/* The format asked for or implied by the output's name, checked against
 * the model; CLI_FORMAT_AUTO after a usage error has been reported. */
static cli_format choose_format(const cli_opts *o, const pmm_model_desc *d, const cli_vocab *vocab,
                                uint64_t count) {
  cli_format fmt = o->format;
  if (fmt == CLI_FORMAT_AUTO) {
    if (strcmp(o->output, "-") == 0 || has_suffix(o->output, ".csv"))
      fmt = CLI_FORMAT_CSV;
    else if (has_suffix(o->output, ".npy"))
      fmt = CLI_FORMAT_NPY;
    else if (has_suffix(o->output, ".txt"))
      fmt = CLI_FORMAT_TXT;
    else if (has_suffix(o->output, ".png"))
      fmt = CLI_FORMAT_PNG;
    else {
      cli_usage_error(o,
                      "cannot tell the format of '%s' from its extension: "
                      "use --format npy, csv, txt or png",
                      o->output);
      return CLI_FORMAT_AUTO;
    }
  }
  if (fmt == CLI_FORMAT_TXT && !vocab) {
    cli_usage_error(o,
                    "--format txt decodes symbol sequences, and model '%s' (%s) has no "
                    "vocabulary: use npy or csv",
                    d->name, d->pair);
    return CLI_FORMAT_AUTO;
  }
  char why[512];
  if (fmt == CLI_FORMAT_PNG && png_grid_check(d, count, why, sizeof why) != 0) {
    cli_usage_error(o, "%s", why);
    return CLI_FORMAT_AUTO;
  }
  return fmt;
}

/* Everything after parsing, with the descriptor known to be sound. */
static int cli_run(const cli_opts *o, const pmm_model_desc *desc, const cli_vocab *vocab) {
  if (o->help) {
    cli_print_help(o, desc);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  if (o->version) {
    printf("%s sampler (%s)\n", desc->name, desc->engine);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  if (o->info) {
    cli_print_info(desc, vocab);
    return fflush(stdout) == 0 ? 0 : 1;
  }

  /* Shard K of N: the contiguous part [floor(n K / N), floor(n (K+1) / N))
   * of the range, computed without overflowing n K (N < 2^32). */
  uint64_t first = o->first, count = o->n;
  if (o->has_shard) {
    uint64_t q = o->n / o->shard_n, r = o->n % o->shard_n;
    uint64_t lo = q * o->shard_k + r * o->shard_k / o->shard_n;
    uint64_t hi = q * (o->shard_k + 1) + r * (o->shard_k + 1) / o->shard_n;
    first = o->first + lo;
    count = hi - lo;
  }
  cli_format fmt = choose_format(o, desc, vocab, count);
  if (fmt == CLI_FORMAT_AUTO) return 2;
  return write_output(o, desc, fmt, vocab, first, count);
}

int pmm_sampler_main(int argc, char **argv, const pmm_model_desc *desc) {
  cli_opts o;
  memset(&o, 0, sizeof o);
  o.n = 1;
  o.output = "-";
  const char *prog = argc > 0 && argv[0] && *argv[0] ? argv[0] : NULL;
  if (prog && strrchr(prog, '/')) prog = strrchr(prog, '/') + 1;
  o.prog = prog && *prog ? prog : desc && desc->name ? desc->name : "sampler";
  if (!desc) {
    cli_error(&o, "no model descriptor");
    return 1;
  }

  /* a run cut short by a signal removes its temporary files */
  pmm_out_catch_signals();
  int rc = cli_parse(argc, argv, &o);
  if (rc != 0) return rc;
  if (desc_check(&o, desc, 1) != 0) return 1;
  if (!desc->vocab) return cli_run(&o, desc, NULL);
  cli_vocab vocab;
  char err[256];
  if (vocab_init(&vocab, desc, err, sizeof err) != 0) {
    cli_error(&o, "model descriptor is inconsistent: %s", err);
    return 1;
  }
  rc = cli_run(&o, desc, &vocab);
  vocab_free(&vocab);
  return rc;
}

int pmm_sampler_print_info(const char *prog, const pmm_model_desc *desc) {
  cli_opts o;
  memset(&o, 0, sizeof o);
  o.prog = prog && *prog ? prog : "pmm";
  if (!desc) {
    cli_error(&o, "no model descriptor");
    return 1;
  }
  if (desc_check(&o, desc, 0) != 0) return 1;
  cli_vocab vocab;
  char err[256];
  if (desc->vocab && vocab_init(&vocab, desc, err, sizeof err) != 0) {
    cli_error(&o, "model descriptor is inconsistent: %s", err);
    return 1;
  }
  cli_print_info(desc, desc->vocab ? &vocab : NULL);
  if (desc->vocab) vocab_free(&vocab);
  if (fflush(stdout) != 0) {
    cli_error(&o, "cannot write to standard output");
    return 1;
  }
  return 0;
}
