#pragma once
// Boost 1.74's Asio in C++20 mode with g++ 12 uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/system_timer.hpp>

namespace dmon::core {
namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;
}  // namespace dmon::core
