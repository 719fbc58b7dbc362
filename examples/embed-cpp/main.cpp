/*
 * embed-cpp - the two models of examples/embed-c from C++11, through their
 * shared libraries (examples/README.md):
 *
 *     embed-cpp [N [SEED [FIRST_INDEX]]]
 *
 * prints what embed-c prints.  pmm::Model<Api> owns a handle (closed by its
 * destructor), returns samples in a std::vector and turns every status into
 * a pmm::Error; Api names one model's C functions, since each model has its
 * own prefix.
 */
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "gmm8.h"
#include "words50.h"

namespace pmm {

class Error : public std::runtime_error {
public:
  Error(const std::string &what, int32_t status) : std::runtime_error(what), status_(status) {}
  int32_t status() const { return status_; }

private:
  int32_t status_;
};

template <class Api> class Model {
public:
  Model() : model_(nullptr) {
    typename Api::params params;
    Api::params_init(&params); // lets open check that the header matches the library
    char err[256];
    int32_t st = Api::open(&params, &model_, err, sizeof err);
    if (st != 0) throw Error(std::string(Api::name) + ": " + err, st);
  }
  ~Model() { Api::close(model_); }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  static typename Api::info info() {
    typename Api::info i;
    check(Api::get_info(&i), "get_info");
    return i;
  }

  // Samples first .. first + n - 1, sample after sample; threads 0 is one per CPU.
  std::vector<float> sample(uint64_t seed, uint64_t first, std::size_t n,
                            uint32_t threads = 0) const {
    std::vector<float> out(n * Api::sample_elems);
    check(Api::sample_mt(model_, threads, seed, first, n, out.data(), out.size()), "sample_mt");
    return out;
  }

private:
  static void check(int32_t st, const char *fn) {
    if (st != 0) throw Error(std::string(Api::name) + "_" + fn + ": " + Api::status_string(st), st);
  }
  typename Api::model *model_;
};

} // namespace pmm

// One model's C API under names pmm::Model uses.
#define PMM_MODEL_API(Api, p, P)                                                                   \
  struct Api {                                                                                     \
    typedef p##_model model;                                                                       \
    typedef p##_params params;                                                                     \
    typedef p##_info info;                                                                         \
    static constexpr const char *name = #p;                                                        \
    static constexpr std::size_t sample_elems = P##_SAMPLE_ELEMS;                                  \
    static void params_init(params *x) { p##_params_init(x); }                                     \
    static int32_t open(const params *x, model **m, char *err, std::size_t len) {                  \
      return p##_open(x, m, err, len);                                                             \
    }                                                                                              \
    static void close(model *m) { p##_close(m); }                                                  \
    static int32_t get_info(info *i) { return p##_get_info(i); }                                   \
    static const char *status_string(int32_t st) { return p##_status_string(st); }                 \
    static int32_t sample_mt(const model *m, uint32_t threads, uint64_t seed, uint64_t first,      \
                             std::size_t n, float *out, std::size_t len) {                         \
      return p##_sample_mt(m, threads, seed, first, n, out, len);                                  \
    }                                                                                              \
  }

PMM_MODEL_API(Gmm8, gmm8, GMM8);
PMM_MODEL_API(Words50, words50, WORDS50);

// The vocabulary's symbols: one UTF-8 code point each (pmmc checks the text).
static std::vector<std::string> symbols(const char *vocab) {
  std::vector<std::string> out;
  for (const char *s = vocab; *s;) {
    unsigned char b = static_cast<unsigned char>(*s);
    std::size_t len = b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    out.push_back(std::string(s, len));
    s += len;
  }
  return out;
}

// A sample of symbol indices as a word; words shorter than the sequence are
// padded at the end, so trailing padding is dropped as --format txt does.
static std::string decode(const std::vector<std::string> &symbol, int64_t pad, const float *x,
                          std::size_t len) {
  std::size_t end = 0;
  for (std::size_t i = 0; i < len; i++) {
    if (!(x[i] >= 0 && x[i] < static_cast<float>(symbol.size()) &&
          x[i] == static_cast<float>(static_cast<uint64_t>(x[i]))))
      throw std::runtime_error("words50 gave " + std::to_string(x[i]) + ", not a symbol index");
    if (static_cast<int64_t>(x[i]) != pad) end = i + 1;
  }
  std::string word;
  for (std::size_t i = 0; i < end; i++) word += symbol[static_cast<std::size_t>(x[i])];
  return word;
}

static uint64_t parse_u64(const char *s, const char *what) {
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    if (*s >= '0' && *s <= '9') v = std::stoull(s, &used, 10);
  } catch (const std::out_of_range &) {
    used = 0;
  }
  if (used == 0 || s[used] != '\0')
    throw std::invalid_argument(std::string(what) + " must be a non-negative integer, not '" + s +
                                "'");
  return v;
}

int main(int argc, char **argv) {
  if (argc > 4) {
    std::cerr << "usage: embed-cpp [N [SEED [FIRST_INDEX]]]\n";
    return 2;
  }
  uint64_t n = 8, seed = 0, first = 0;
  try {
    if (argc > 1) n = parse_u64(argv[1], "N");
    if (argc > 2) seed = parse_u64(argv[2], "SEED");
    if (argc > 3) first = parse_u64(argv[3], "FIRST_INDEX");
  } catch (const std::invalid_argument &e) {
    std::cerr << "embed-cpp: " << e.what() << "\n";
    return 2;
  }
  try {
    pmm::Model<Gmm8> gmm8;
    std::vector<float> x = gmm8.sample(seed, first, n);
    std::printf("# gmm8: %llu samples, seed %llu, first index %llu\n",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(first));
    for (std::size_t i = 0; i < n; i++) {
      for (std::size_t e = 0; e < Gmm8::sample_elems; e++)
        std::printf(e ? ",%.9g" : "%.9g", x[i * Gmm8::sample_elems + e]);
      std::printf("\n");
    }

    pmm::Model<Words50> words50;
    words50_info info = pmm::Model<Words50>::info();
    std::vector<std::string> symbol = symbols(info.vocab);
    std::vector<float> w = words50.sample(seed, first, n);
    std::printf("# words50: %llu samples, seed %llu, first index %llu\n",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(first));
    for (std::size_t i = 0; i < n; i++)
      std::printf("%s\n", decode(symbol, info.pad_symbol, &w[i * Words50::sample_elems],
                                 Words50::sample_elems)
                              .c_str());
  } catch (const std::exception &e) {
    std::cerr << "embed-cpp: " << e.what() << "\n";
    return 1;
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}
