// daemon.h — migo-policyd's process set-up: options, configuration file,
// logging, privileges. main.cc only calls policyd_main().
#pragma once

#include <string>

#include "policy.h"
#include "server.h"

namespace migo {

// Reads a configuration file of "key = value" lines ('#' starts a comment).
// Keys: unauthenticated_action, tempfail_action, sasl_realm, idle_timeout,
// request_timeout, max_connections. Unknown keys are errors.
Status read_policy_config(const std::string& path, PolicyConfig* config, ServerOptions* options);

int policyd_main(int argc, char** argv);

}  // namespace migo
