// libFuzzer target: the TFLite reader on hostile bytes. Every input must end in a model or a
// std::runtime_error naming the file; anything else (crash, sanitizer report, other exception,
// runaway allocation) is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "vision/tflite_net.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // The reader takes a path (models are files): one scratch file per process.
    static const std::string path = "/tmp/caregate-fuzz-tflite-" + std::to_string(getpid()) + ".tflite";
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    try {
        auto m = caregate::vision::tflite::read_model(path);
        (void)m;
    } catch (const std::runtime_error& e) {
        if (std::string(e.what()).find(path) == std::string::npos) __builtin_trap();  // errors name the file
    }
    return 0;
}
