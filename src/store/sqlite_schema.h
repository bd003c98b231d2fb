// The store's SQLite schema: versioned migrations in PRAGMA user_version.
// Private to the store module.
#pragma once

#include <string_view>
#include <vector>

#include "store/sqlite_db.h"

namespace wgate::sqlite {

// The schema version this build writes.
int schema_version();

// The migrations' SQL, oldest first (tests replay one of them).
std::vector<std::string_view> migrations();

// Applies every migration the database lacks, each in its own write
// transaction (append-only list: a shipped migration is never edited).
// Errors: the database is newer than this build, or a migration failed (it
// is rolled back, nothing is lost).
Status migrate(Db& db);

}  // namespace wgate::sqlite
