// Error and Result<T>: every fallible call returns one, with context that
// names the operation ("KVM_SET_USER_MEMORY_REGION slot 1: Invalid argument").
// GCC 12 has no std::expected, hence this small stand-in.
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vmrun {

class Error {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}

  // "what: strerror(err)"; err defaults to the current errno.
  static Error from_errno(std::string_view what, int err = errno) {
    return Error(std::string(what) + ": " + std::strerror(err));
  }

  const std::string& message() const { return message_; }

  // Prefixes outer context: "loading kernel: open x: ENOENT".
  Error context(std::string_view outer) const {
    return Error(std::string(outer) + ": " + message_);
  }

 private:
  std::string message_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }

  T* operator->() { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }
  void value() const {}

 private:
  std::optional<Error> error_;
};

inline Result<void> ok() { return {}; }

}  // namespace vmrun

// Evaluates a Result expression; on error returns the error from the calling
// function, otherwise yields the value. (GNU statement expression: GCC and
// Clang both have it, and it keeps call sites to one line.)
#define VMRUN_TRY(expr)                            \
  ({                                               \
    auto vmrun_try_r_ = (expr);                    \
    if (!vmrun_try_r_.ok()) return vmrun_try_r_.error(); \
    std::move(vmrun_try_r_).value();               \
  })

// Like VMRUN_TRY, adding context to the error on the way out.
#define VMRUN_TRY_CTX(expr, ctx)                                \
  ({                                                            \
    auto vmrun_try_r_ = (expr);                                 \
    if (!vmrun_try_r_.ok()) return vmrun_try_r_.error().context(ctx); \
    std::move(vmrun_try_r_).value();                            \
  })
