#include "open_store.hpp"

#ifdef DMON_POSTGRES
#include <dmon/store/postgres.hpp>
#endif

#include <cstdlib>
#include <stdexcept>

namespace dmon::ctl {

std::unique_ptr<store::Reader> open_reader(const std::string& db) {
    if (db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0) {
#ifdef DMON_POSTGRES
        store::pg::ConnectionSettings settings;
        settings.conninfo = db;
        if (const char* schema = std::getenv("DMON_PG_SCHEMA"); schema != nullptr && *schema)
            settings.schema = schema;
        return std::make_unique<store::pg::PgReader>(settings);
#else
        throw std::runtime_error("this dmonctl was built without PostgreSQL (libpq)");
#endif
    }
    return std::make_unique<store::SampleReader>(db);
}

}  // namespace dmon::ctl
