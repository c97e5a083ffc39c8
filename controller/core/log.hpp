// Structured log lines on stdout (journald adds its own timestamp): "level component: message k=v".
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace caregate {

void init_logging(const std::string& level);
// A named logger per component ("alarms", "modbus", ...), created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

}  // namespace caregate
