#include <CLI/CLI.hpp>

#include "controller/cli_commands.hpp"

namespace caregate {

void register_extra_commands(CLI::App&, CommandContext&) {}

}  // namespace caregate
