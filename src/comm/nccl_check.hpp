#pragma once
// KAON_NCCL_CHECK(call): a failing NCCL call becomes a kaon::Error naming the call, NCCL's
// error string and (through KAON_FAIL) the file and line. ncclInProgress (non-blocking
// communicators) is not handled here: NcclCommunicator::settle waits it out.
#include <nccl.h>

#include "kaon/core/error.hpp"

#define KAON_NCCL_CHECK(expr)                                                                  \
  do {                                                                                         \
    ncclResult_t kaonNcclStatus_ = (expr);                                                     \
    if (kaonNcclStatus_ != ncclSuccess)                                                        \
      KAON_FAIL("NCCL error {} in {}", ncclGetErrorString(kaonNcclStatus_), #expr);            \
  } while (0)
