// ThreadStores: one store connection per server thread (SQLite connections
// are not shared across threads), opened on a thread's first request.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "store/store.h"

namespace wgate::web {

class ThreadStores {
 public:
  explicit ThreadStores(std::function<Result<std::unique_ptr<Store>>()> open) : open_(std::move(open)) {}

  // This thread's connection; an error when it cannot be opened (the next
  // call tries again).
  Result<Store*> get() {
    std::lock_guard lock(mu_);
    auto& slot = stores_[std::this_thread::get_id()];
    if (!slot) {
      WGATE_ASSIGN_OR_RETURN(slot, open_());
    }
    return slot.get();
  }

 private:
  std::function<Result<std::unique_ptr<Store>>()> open_;
  std::mutex mu_;
  std::map<std::thread::id, std::unique_ptr<Store>> stores_;
};

}  // namespace wgate::web
