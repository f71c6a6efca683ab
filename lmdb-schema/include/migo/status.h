// status.h — errors as values for every migo module.
//
// A Status is a code plus a human message; Result<T> is a T or a non-ok
// Status. "Not found" is an ordinary outcome callers test for, not an
// exceptional one. Codes map onto what each C boundary must answer: every
// code except not_found/invalid/exists/refused means "try again later"
// (SASL_TRYAGAIN, 4xx, milter tempfail) — a daemon never fails open.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace migo {

enum class Code {
  ok,
  not_found,        // the record is absent
  invalid,          // the caller's input is malformed
  exists,           // a record with that key is already there
  refused,          // a rule (plan limit, confirmation) forbids the change
  not_initialized,  // no store at that path, or schema not created yet
  corrupt,          // a record does not decode: a broken or foreign database
  unavailable,      // I/O, permissions, LMDB limits: temporary by nature
};

const char* code_name(Code c) noexcept;

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const noexcept { return code_ == Code::ok; }
  Code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  // True for codes that mean "the store could not answer", as opposed to an answer.
  bool temporary() const noexcept {
    return code_ == Code::unavailable || code_ == Code::corrupt || code_ == Code::not_initialized;
  }
  std::string to_string() const;

 private:
  Code code_ = Code::ok;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }

  bool ok() const noexcept { return std::holds_alternative<T>(v_); }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  const T& operator*() const& { return std::get<T>(v_); }
  // By value on a temporary, so `for (auto& x : *f())` does not dangle.
  T operator*() && { return std::get<T>(std::move(v_)); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

// Propagate a non-ok Status from an expression that yields Status.
#define MIGO_TRY(expr)                        \
  do {                                        \
    ::migo::Status migo_try_s_ = (expr);      \
    if (!migo_try_s_.ok()) return migo_try_s_; \
  } while (0)

}  // namespace migo
