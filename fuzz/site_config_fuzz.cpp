// libFuzzer target: the site config reader (config/config.cpp) on hostile YAML. Every input must end
// in a SiteConfig or a config::ConfigError naming the file; anything else (crash, sanitizer report,
// any other exception, e.g. one of yaml-cpp's own escaping the validator) is a finding. Only
// ConfigError is caught, so another exception type terminates at the throw, with that stack.
#include <cstdint>
#include <cstring>
#include <string>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    try {
        auto c = caregate::config::parse_config(text, "fuzz.yaml");
        (void)caregate::config::summarize(c);  // what `caregate config check` prints of a good one
    } catch (const caregate::config::ConfigError& e) {
        if (std::strncmp(e.what(), "fuzz.yaml", 9) != 0) __builtin_trap();  // errors name the file
    }
    return 0;
}
