// Writing a file so that a reader never sees a partial one: PATH.tmp is written, then renamed.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

namespace g4 {

// Calls write(f) on PATH.tmp, which returns false on a short write; on success renames it to
// PATH. Throws g4::Error naming the path (and removes PATH.tmp) on any failure.
void WriteFileAtomically(const std::string& path, const std::function<bool(std::FILE*)>& write);

}  // namespace g4
