// RAII owners of SQLite's C handles (connection, statement, transaction)
// with errors as values. Private to the store module.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "util/result.h"

namespace wgate::sqlite {

inline Error sqlite_error(sqlite3* db, const std::string& what) {
  return make_error(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// Owns one prepared statement. Bind errors are remembered and reported by
// the next step(), so call sites can chain binds.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}
  Stmt& operator=(Stmt&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      db_ = other.db_;
      stmt_ = std::exchange(other.stmt_, nullptr);
      bind_rc_ = other.bind_rc_;
    }
    return *this;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  Stmt& bind(int index, int64_t value) { return check(sqlite3_bind_int64(stmt_, index, value)); }
  Stmt& bind(int index, const std::string& value) {
    return check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT));
  }
  Stmt& bind(int index, const std::optional<int64_t>& value) {
    return value ? bind(index, *value) : check(sqlite3_bind_null(stmt_, index));
  }

  // Advances to the next row: true when a row is ready, false when done.
  Result<bool> step() {
    if (bind_rc_ != SQLITE_OK) return make_error(std::string("binding parameters: ") + sqlite3_errstr(bind_rc_));
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return sqlite_error(db_, "running '" + std::string(sqlite3_sql(stmt_)) + "'");
  }
  // Makes the statement ready to run again with fresh bindings.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    bind_rc_ = SQLITE_OK;
  }
  // Runs a statement that returns no rows.
  Status run() {
    WGATE_ASSIGN_OR_RETURN(bool row, step());
    (void)row;
    return ok_status();
  }

  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<int64_t> optional_integer(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return integer(col);
  }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// Owns the connection. Statements must be destroyed before it; they are
// always locals of a Store method, so they are.
class Db {
 public:
  explicit Db(sqlite3* db) : db_(db) {}
  Db(Db&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Db& operator=(Db&&) = delete;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() { sqlite3_close_v2(db_); }

  sqlite3* get() const { return db_; }

  Result<Stmt> prepare(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return sqlite_error(db_, "preparing '" + sql + "'");
    }
    return Stmt(db_, stmt);
  }

  // Runs one or more statements that return nothing of interest.
  Status exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      return sqlite_error(db_, "running '" + sql + "'");
    }
    return ok_status();
  }

  // The single integer a query such as a PRAGMA returns.
  Result<int64_t> query_int(const std::string& sql) {
    WGATE_ASSIGN_OR_RETURN(Stmt stmt, prepare(sql));
    WGATE_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return make_error("'" + sql + "' returned no row");
    return stmt.integer(0);
  }

  int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  int64_t changes() const { return sqlite3_changes64(db_); }

 private:
  sqlite3* db_;
};

// The in-process queue for a database file's write lock. SQLite's busy
// handler waits for a lock by sleeping and retrying, which is not fair: under
// steady load from several threads of one process (the web part's request
// threads, each with its own connection) a waiter can miss every release
// until busy_timeout runs out. Writers of one process therefore queue on a
// mutex first (woken on release), and only the process's current writer
// waits in SQLite, for other processes.
inline std::shared_ptr<std::mutex> writer_queue_for(const std::string& path) {
  static std::mutex registry_lock;
  static std::map<std::string, std::weak_ptr<std::mutex>> registry;
  std::lock_guard<std::mutex> guard(registry_lock);
  auto& slot = registry[path];
  auto queue = slot.lock();
  if (!queue) {
    queue = std::make_shared<std::mutex>();
    slot = queue;
  }
  return queue;
}

// A transaction that rolls back unless committed, so an error returned
// half-way through a write leaves the database as it was.
class Transaction {
 public:
  enum class Kind { read, write };

  static Result<Transaction> begin(Db& db, Kind kind) {
    std::unique_lock<std::mutex> queued;
    if (kind == Kind::write) {
      const char* file = sqlite3_db_filename(db.get(), "main");
      // An in-memory database has no file and no other connection.
      if (file != nullptr && *file != '\0') {
        auto queue = writer_queue_for(file);
        queued = std::unique_lock<std::mutex>(*queue);
        return begin_queued(db, kind, std::move(queue), std::move(queued));
      }
    }
    return begin_queued(db, kind, nullptr, std::move(queued));
  }
  Transaction(Transaction&& other) noexcept
      : db_(std::exchange(other.db_, nullptr)), queue_(std::move(other.queue_)), queued_(std::move(other.queued_)) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (db_ != nullptr) (void)db_->exec("ROLLBACK");
  }

  Status commit() {
    Db* db = std::exchange(db_, nullptr);
    Status s = db->exec("COMMIT");
    if (!s.ok()) (void)db->exec("ROLLBACK");
    if (queued_.owns_lock()) queued_.unlock();
    return s;
  }

 private:
  static Result<Transaction> begin_queued(Db& db, Kind kind, std::shared_ptr<std::mutex> queue,
                                          std::unique_lock<std::mutex> queued) {
    // IMMEDIATE takes the write lock now (waiting up to busy_timeout), not at
    // the first write, where SQLite could only fail with SQLITE_BUSY.
    WGATE_TRY(db.exec(kind == Kind::write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
    return Transaction(&db, std::move(queue), std::move(queued));
  }
  Transaction(Db* db, std::shared_ptr<std::mutex> queue, std::unique_lock<std::mutex> queued)
      : db_(db), queue_(std::move(queue)), queued_(std::move(queued)) {}
  Db* db_;
  // Released after ~Transaction's body (its ROLLBACK) has run: members are
  // destroyed after the destructor's body. queue_ keeps the mutex alive.
  std::shared_ptr<std::mutex> queue_;
  std::unique_lock<std::mutex> queued_;
};

}  // namespace wgate::sqlite
