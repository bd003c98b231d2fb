// Shared state of one `wgate` invocation: global flags, the loaded config and
// the store, opened on first use so that `check-config` needs neither.
#pragma once

#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "store/store.h"

namespace wgate::cli {

// A command's failure: printed as "wgate: <message>" with exit code 1.
struct CommandError {
  std::string message;
};

class Context {
 public:
  std::string config_path = "/etc/wgate/wgate.toml";
  bool json = false;
  // --log-format, when given; else the config's [log] format applies once
  // the config is loaded.
  std::optional<LogFormat> log_format;

  const Config& config();
  Store& store();
  Actor actor() const;
  UnixTime now() const;

  // Prints `j` as JSON when --json, else calls `human`.
  template <class F>
  void emit(const nlohmann::json& j, F&& human) {
    if (json) {
      print_json(j);
    } else {
      human();
    }
  }
  void print_json(const nlohmann::json& j);

  // Storage for a command's option values, alive as long as the Context
  // (CLI11 writes into it during parsing; the callback reads it).
  template <class T>
  T& options() {
    auto holder = std::make_shared<T>();
    T& ref = *holder;
    option_storage_.push_back(std::move(holder));
    return ref;
  }

 private:
  std::vector<std::shared_ptr<void>> option_storage_;
  std::unique_ptr<Config> config_;
  std::unique_ptr<Store> store_;
};

// Unwraps a Result or throws CommandError (caught in main).
template <class T>
T get_or_fail(Result<T> r) {
  if (!r.ok()) throw CommandError{r.error().message};
  return std::move(r).value();
}
inline void check(const Status& s) {
  if (!s.ok()) throw CommandError{s.error().message};
}

}  // namespace wgate::cli
