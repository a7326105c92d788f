#pragma once
// The time-series store: schema, writer and reader (docs/storage.md).
#include <dmon/store/reader.hpp>
#include <dmon/store/schema.hpp>
#include <dmon/store/writer.hpp>
