// loggable.h — what an SMTP client sent, made fit for a log line.
//
// Mail logs are read by programs (migo-statd, log watchers, fail2ban) that
// act on their lines, and syslog takes any byte we hand it. Text a client
// controls (logins, header fragments, domains) therefore reaches a log only
// through these: bounded, on one line, without control bytes, and marked
// as quoted so that nobody mistakes it for the line's own words.
#pragma once

#include <string>
#include <string_view>

namespace migo {

// A login: the name itself if it is a well-formed account name, otherwise
// only its length (hostile bytes never reach a log).
std::string loggable_login(std::string_view login);

// Any client text, in double quotes: printable ASCII kept except '"' and
// '\', which are escaped as \" and \\; every other byte as \xHH; cut after
// `max` input bytes with "...(N bytes)" added, N the whole length.
std::string loggable_text(std::string_view text, size_t max = 100);

}  // namespace migo
