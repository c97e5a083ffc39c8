// Structured log lines on stdout (journald adds its own timestamp): "level component: message k=v".
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace caregate {

void init_logging(const std::string& level);
// The log line format: pattern, and control characters of the message escaped (one event, one line).
std::unique_ptr<spdlog::formatter> one_line_formatter();
// A named logger per component ("alarms", "modbus", ...), created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

}  // namespace caregate
