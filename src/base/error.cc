#include "base/error.h"

#include <cstdio>
#include <cstdlib>

namespace g4::detail {

void CheckFailed(const char* file, int line, const char* expr, const std::string& msg) {
  std::fprintf(stderr, "g4: internal check failed at %s:%d: %s %s\n", file, line, expr, msg.c_str());
  std::abort();
}

}  // namespace g4::detail
