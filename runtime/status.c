/*
 * status.c - names of the runtime's status codes, for error messages.
 */
#include "runtime/pmmrt.h"

const char *pmm_status_name(pmm_status st) {
  switch (st) {
  case PMM_OK: return "success";
  case PMM_ERR_USAGE: return "usage error";
  case PMM_ERR_IO: return "I/O error";
  case PMM_ERR_NOMEM: return "out of memory";
  case PMM_ERR_FORMAT: return "malformed input";
  case PMM_ERR_MODEL: return "model failure";
  }
  return "unknown status";
}
