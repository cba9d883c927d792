// Byte counts for people: "512 B", "1.40 MiB", "2.48 GiB".
#pragma once

#include <string>

namespace g4 {

std::string HumanBytes(double bytes);

}  // namespace g4
