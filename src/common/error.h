#pragma once
// Pensieve reports failures as exceptions thrown where they are found and caught once at a
// boundary (the CLI's main, a request handler, the engine thread), which turns them into one line
// or one API error. `Error` carries a message meant for the user as it is.
#include <stdexcept>
#include <string>

namespace pensieve {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace pensieve
