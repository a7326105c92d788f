#pragma once
// Talking to the service manager that started the host: systemd's notification protocol
// (sd_notify(3): READY=1, RELOADING=1, STOPPING=1, STATUS=...) and its journal's priority
// prefixes on standard error (sd-daemon(3)).
//
// Implemented here rather than by linking libsystemd: the protocol is a datagram to the socket in
// $NOTIFY_SOCKET, which systemd documents as stable for implementations of their own, while
// libsystemd would map itself and its compression and crypto libraries into every agent (about a
// megabyte of resident memory) for one sendto().
#include <string>
#include <string_view>

namespace dmon::core {

// Sends `state` (newline-separated KEY=VALUE assignments) to the service manager. False when
// there is none ($NOTIFY_SOCKET unset: started by hand) or the datagram could not be sent.
bool notify_service_manager(std::string_view state);

// "RELOADING=1" with the MONOTONIC_USEC systemd wants with it since version 253.
std::string reloading_state();

// Whether standard error is the journal's stream ($JOURNAL_STREAM names its device and inode):
// then log lines carry a priority prefix ("<3>" for errors) instead of a time stamp.
bool stderr_is_journal();

}  // namespace dmon::core
