#include "io/atomic_write.h"

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace g4 {

void WriteFileAtomically(const std::string& path, const std::function<bool(std::FILE*)>& write) {
  const std::string tmp = path + ".tmp";
  std::FILE* out = std::fopen(tmp.c_str(), "wb");
  if (out == nullptr) Fail(tmp, ": cannot create: ", std::strerror(errno));
  bool ok = write(out);
  ok = (std::fclose(out) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    Fail(path, ": write failed: ", std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    Fail(path, ": cannot rename from ", tmp, ": ", std::strerror(errno));
  }
}

}  // namespace g4
