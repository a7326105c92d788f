#pragma once
#include <dmon/store/reader.hpp>

#include <memory>
#include <string>

namespace dmon::ctl {

// The store --db names: a postgresql:// URI (postgres_store's database; the password from
// libpq's environment: PGPASSWORD, PGPASSFILE or ~/.pgpass; the schema from $DMON_PG_SCHEMA,
// default dmon) or an SQLite file (sqlite_store's).
// Throws with the reason when it cannot be read.
std::unique_ptr<store::Reader> open_reader(const std::string& db);

}  // namespace dmon::ctl
