#include "controller/core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace caregate {

void init_logging(const std::string& level) {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %n: %v");
    spdlog::set_level(spdlog::level::from_str(level));
    spdlog::flush_on(spdlog::level::info);
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
    if (auto l = spdlog::get(component)) return l;
    try {
        auto l = spdlog::stdout_logger_mt(component);
        l->set_level(spdlog::get_level());
        l->flush_on(spdlog::level::info);
        return l;
    } catch (const spdlog::spdlog_ex&) {
        return spdlog::get(component);  // created concurrently by another thread
    }
}

}  // namespace caregate
