// Result<T>: the one error type at wgate's module boundaries.
//
// A Result holds either a value or an Error (a message plus, where the error
// came from a system call, its errno). Convert errno at the C call, at once,
// with errno_error(). Exceptions are used only for fatal start-up errors and
// are caught in main().
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace wgate {

struct Error {
  std::string message;
  int sys_errno = 0;  // 0 when the error did not come from a system call

  // Prefixes context ("loading config: ...") so that errors read outside-in.
  Error with_context(const std::string& context) const {
    return Error{context + ": " + message, sys_errno};
  }
};

inline Error make_error(std::string message) { return Error{std::move(message), 0}; }

// Builds an Error from an errno value, naming what was being done.
inline Error errno_error(int err, const std::string& what) {
  return Error{what + ": " + std::strerror(err), err};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

inline Status ok_status() { return Status(); }

}  // namespace wgate

// Propagates the error of a Result-returning expression.
#define WGATE_TRY(expr)                          \
  do {                                           \
    auto&& wgate_try_r_ = (expr);                \
    if (!wgate_try_r_.ok()) return wgate_try_r_.error(); \
  } while (0)

#define WGATE_CONCAT_INNER(a, b) a##b
#define WGATE_CONCAT(a, b) WGATE_CONCAT_INNER(a, b)
// Declares `lhs` from the value of a Result, or returns its error.
#define WGATE_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto WGATE_CONCAT(wgate_r_, __LINE__) = (expr);                           \
  if (!WGATE_CONCAT(wgate_r_, __LINE__).ok())                               \
    return WGATE_CONCAT(wgate_r_, __LINE__).error();                        \
  lhs = std::move(WGATE_CONCAT(wgate_r_, __LINE__)).value()
