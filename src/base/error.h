// Error handling inside libg4.
//
// Two kinds of failure, two mechanisms:
//  * Bad input (files, configs, token ids, requests) throws g4::Error whose message names the
//    file, tensor, field or byte offset at fault. The public API (include/g4) catches it and
//    returns a g4::Status, so no exception crosses the library boundary.
//  * Broken internal contracts (a bug in g4) abort through G4_CHECK with file:line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace g4 {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
inline void AppendAll(std::ostringstream&) {}
template <typename T, typename... Rest>
void AppendAll(std::ostringstream& out, const T& first, const Rest&... rest) {
  out << first;
  AppendAll(out, rest...);
}
[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, const std::string& msg);
}  // namespace detail

// Builds a message from any streamable pieces: Concat("tensor ", name, " has ", n, " dims").
template <typename... Parts>
std::string Concat(const Parts&... parts) {
  std::ostringstream out;
  detail::AppendAll(out, parts...);
  return out.str();
}

// Throws g4::Error with the concatenated message.
template <typename... Parts>
[[noreturn]] void Fail(const Parts&... parts) {
  throw Error(Concat(parts...));
}

}  // namespace g4

#define G4_CHECK(cond, ...)                                                             \
  do {                                                                                  \
    if (!(cond)) ::g4::detail::CheckFailed(__FILE__, __LINE__, #cond, ::g4::Concat(__VA_ARGS__)); \
  } while (0)
