// daemon.h — migo-policyd's process set-up: options, configuration file,
// logging, privileges. main.cc only calls policyd_main().
#pragma once

#include <string>
#include <vector>

#include "../common/options.h"

#include "policy.h"
#include "server.h"

namespace migo {

// policyd.conf's keys (migo-policyd.conf(5)), setting *config and *options.
std::vector<ConfigKey> policy_config_keys(PolicyConfig* config, ServerOptions* options);
const ConfigFileDoc& policy_config_doc();

// Reads policyd.conf (read_config_file with the keys above).
Status read_policy_config(const std::string& path, PolicyConfig* config, ServerOptions* options);

int policyd_main(int argc, char** argv);

}  // namespace migo
