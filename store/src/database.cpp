#include <dmon/store/database.hpp>

namespace dmon::store {

void throw_error(sqlite3* db, int code, const std::string& path, std::string_view doing) {
    std::string reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    if ((code & 0xff) == SQLITE_FULL)
        reason += " (the disk is full)";
    throw DatabaseError(path + ": " + std::string(doing) + ": " + reason, code);
}

Statement::Statement(sqlite3* db, std::string_view sql, const std::string& path)
    : db_(db), path_(path) {
    const int rc =
        sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
    if (rc != SQLITE_OK)
        throw_error(db, rc, path_, "preparing '" + std::string(sql.substr(0, 60)) + "'");
}

Statement::~Statement() {
    sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index + 1, value);
    return *this;
}
Statement& Statement::bind(int index, double value) {
    sqlite3_bind_double(stmt_, index + 1, value);
    return *this;
}
Statement& Statement::bind(int index, std::string_view value) {
    sqlite3_bind_text(stmt_, index + 1, value.data(), static_cast<int>(value.size()),
                      SQLITE_STATIC);
    return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
    sqlite3_bind_blob64(stmt_, index + 1, bytes.data(), bytes.size(), SQLITE_STATIC);
    return *this;
}
Statement& Statement::bind_null(int index) {
    sqlite3_bind_null(stmt_, index + 1);
    return *this;
}

std::string_view Statement::column_blob(int index) const {
    const void* data = sqlite3_column_blob(stmt_, index);
    return data == nullptr ? std::string_view{}
                           : std::string_view(static_cast<const char*>(data),
                                              sqlite3_column_bytes(stmt_, index));
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    sqlite3_reset(stmt_);
    throw_error(db_, rc, path_, "writing");
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

std::string_view Statement::column_text(int index) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
    return text == nullptr ? std::string_view{}
                           : std::string_view(text, sqlite3_column_bytes(stmt_, index));
}

Database::Database(const std::string& path, bool create)
    : Database(path, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)) {}

Database::Database(const std::string& path, ReadOnly) : Database(path, SQLITE_OPEN_READONLY) {}

Database::Database(const std::string& path, int open_flags) : path_(path) {
    const int flags = open_flags | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string reason = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw DatabaseError(path + ": cannot open the database: " + reason, rc);
    }
    // Readers (dmonctl) and the writer meet briefly on WAL checkpoints; wait rather than fail.
    sqlite3_busy_timeout(db_, 5000);
}

Database::~Database() {
    sqlite3_close_v2(db_);
}

void Database::exec(std::string_view sql) {
    const std::string text(sql);
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK)
        throw_error(db_, rc, path_, "running '" + text.substr(0, 60) + "'");
}

Transaction::~Transaction() {
    if (!done_)
        sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace dmon::store
