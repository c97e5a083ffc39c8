#include "controller/core/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace caregate {

namespace {
const char* kPattern = "%Y-%m-%dT%H:%M:%S.%e%z %l %n: %v";

// Formats with the pattern, then writes control characters in the message (a newline in an
// elder's name, a payload, a URL) as visible escapes: one event is always one line, so nobody can
// forge a log line by putting "\n… alarm 9 resolved" into a field that gets logged.
class OneLineFormatter : public spdlog::formatter {
public:
    OneLineFormatter() : inner_(std::make_unique<spdlog::pattern_formatter>(kPattern)) {}
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        spdlog::memory_buf_t line;
        inner_->format(msg, line);
        size_t n = line.size();
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;  // the line's own ending
        static const char* hex = "0123456789abcdef";
        for (size_t i = 0; i < n; ++i) {
            unsigned char c = static_cast<unsigned char>(line[i]);
            if (c == '\n') {
                dest.append(std::string_view("\\n"));
            } else if (c == '\r') {
                dest.append(std::string_view("\\r"));
            } else if (c < 0x20 && c != '\t') {
                char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
                dest.append(esc, esc + 4);
            } else {
                dest.push_back(static_cast<char>(c));
            }
        }
        dest.push_back('\n');
    }
    std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<OneLineFormatter>(); }

private:
    std::unique_ptr<spdlog::pattern_formatter> inner_;
};
}  // namespace

std::unique_ptr<spdlog::formatter> one_line_formatter() { return std::make_unique<OneLineFormatter>(); }

void init_logging(const std::string& level) {
    spdlog::set_formatter(one_line_formatter());
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
