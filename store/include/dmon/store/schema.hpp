#pragma once
// The store's schema (docs/storage.md): which version a file has, creating it, and migrating a
// file written by an older dmon.
#include <dmon/plugin.h>
#include <dmon/store/database.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>
#include <string_view>

namespace dmon::store {

// Version 1: one row per sample. Version 2: head, compressed chunks, last values.
inline constexpr int kSchemaVersion = 2;
inline constexpr uint32_t kDefaultChunkSamples = 512;

// The file's schema_version; 0 for a file with no dmon schema (empty or something else).
int schema_version(Database& db);

// Checks that the file holds this version's schema, or (with `create`, in an empty file)
// creates it. Throws DatabaseError saying what to do with an older or newer file.
void check_schema(Database& db, bool create);

// The chunk size the file's writer uses (kept in meta so that `dmonctl compact` seals alike);
// the default when none is recorded or the record is out of range.
uint32_t recorded_chunk_samples(Database& db);
void record_chunk_samples(Database& db, uint32_t chunk_samples);

struct MigrationOptions {
    bool backup = true;  // copy the file to FILE.schema1.bak first
    uint32_t chunk_samples = kDefaultChunkSamples;
    std::function<void(const std::string&)> progress;  // a line now and then for a big file
};
// Migrates a schema 1 file in place, in one transaction (a crash leaves version 1 intact), then
// gives back the space the rows took. Returns what was done, for the log. Throws DatabaseError.
std::string migrate_schema(Database& db, const MigrationOptions& options);

// The series key's label text: "cpu=total,state=user", the labels other than `host` (returned
// separately) in their order, with '\', ',', '=' and ' ' escaped by '\' and a newline as "\n".
// The store's own function, frozen with the schema: the wire format's escaping may change
// without changing which series a sample belongs to.
void series_labels(const dmon_sample& sample, std::string& labels, std::string_view& host);
// The labels of a series key's label text, unescaped, in order: the inverse of series_labels.
std::vector<std::pair<std::string, std::string>> split_series_labels(std::string_view labels);

}  // namespace dmon::store
