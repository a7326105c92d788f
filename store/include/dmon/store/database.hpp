#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace dmon::store {

// An SQLite error, with the database path and SQLite's own words.
class DatabaseError : public std::runtime_error {
  public:
    DatabaseError(const std::string& message, int code)
        : std::runtime_error(message), code_(code) {}
    int code() const { return code_; }

  private:
    int code_;
};

// A prepared statement, finalized on destruction. Columns and parameters are 0-based here.
class Statement {
  public:
    Statement(sqlite3* db, std::string_view sql, const std::string& path);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    Statement(Statement&& other) noexcept
        : stmt_(other.stmt_), db_(other.db_), path_(std::move(other.path_)) {
        other.stmt_ = nullptr;
    }

    Statement& bind(int index, int64_t value);
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view value);       // the text must outlive step()
    Statement& bind_blob(int index, std::string_view bytes);  // the bytes must outlive step()
    Statement& bind_null(int index);
    bool step();   // true while a row is available; throws on error
    void reset();  // ready to bind and step again
    int64_t column_int(int index) const { return sqlite3_column_int64(stmt_, index); }
    double column_double(int index) const { return sqlite3_column_double(stmt_, index); }
    std::string_view column_text(int index) const;
    std::string_view column_blob(int index) const;
    bool column_is_null(int index) const {
        return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
    }

  private:
    sqlite3_stmt* stmt_ = nullptr;
    sqlite3* db_;
    std::string path_;
};

// An open database connection, closed on destruction.
class Database {
  public:
    // Opens (and with `create`, creates) the file; throws DatabaseError naming the path.
    // create: read-write, and the file is made if missing; else read-write on an existing file.
    Database(const std::string& path, bool create);
    // Read-only (dmonctl): no statement through this handle can change the file.
    struct ReadOnly {};
    Database(const std::string& path, ReadOnly);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    void exec(std::string_view sql);
    Statement prepare(std::string_view sql) { return Statement(db_, sql, path_); }
    sqlite3* handle() const { return db_; }
    const std::string& path() const { return path_; }

  private:
    Database(const std::string& path, int open_flags);
    sqlite3* db_ = nullptr;
    std::string path_;
};

[[noreturn]] void throw_error(sqlite3* db, int code, const std::string& path,
                              std::string_view doing);

// Commits on commit(); rolls back if destroyed before that (an exception on the way).
class Transaction {
  public:
    explicit Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
    ~Transaction();
    void commit();

  private:
    Database& db_;
    bool done_ = false;
};

}  // namespace dmon::store
