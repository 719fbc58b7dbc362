/* Two generated headers in one translation unit (compiled by test_embed.c
 * as C99 and as C++11, -pedantic -Werror): no name clashes, no extensions. */
#include "gmm8.h"
#include "words50.h"

typedef char gmm8_elems_ok[GMM8_SAMPLE_ELEMS == 2 ? 1 : -1];
typedef char words50_align_ok[WORDS50_WORKSPACE_ALIGN == 64 ? 1 : -1];

int embed_headers_use(void);
int embed_headers_use(void) {
  gmm8_params p;
  gmm8_params_init(&p);
  words50_params q;
  words50_params_init(&q);
  gmm8_info gi;
  words50_info wi;
  gmm8_status s = GMM8_OK;
  words50_status t = WORDS50_ERR_VERSION;
  (void)gi;
  (void)wi;
  return (int)(s + t) + (int)p.struct_size + (int)q.api_version;
}
