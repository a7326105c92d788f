#pragma once
// The page's files, bundled at build time (ui/build.mjs) and compiled into dmonctl
// (embed_assets.cmake): `dmonctl serve` needs no files beside it and no CDN.
#include <cstddef>
#include <string_view>

namespace dmon::ctl::web {

struct Asset {
    std::string_view path;  // "/index.html"
    const char* content_type;
    const char* data;
    size_t size;
};

const Asset* find_asset(std::string_view path);

}  // namespace dmon::ctl::web
